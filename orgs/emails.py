"""Email addresses as we store, match and send to them: one canonical form per address.

The canonical form of ``local@domain``:

- the domain is IDNA-encoded (IDNA 2008 with the UTS #46 mapping, non-transitional) to its
  lower-case ASCII form: ``Victim@GMAIL.com`` → ``victim@gmail.com``, and the look-alike
  ``victim@gmaıl.com`` (dotless ı) → ``victim@xn--gmal-nza.com``, a different domain;
- the local part is lower-cased (as Stripe does; mail providers treat ``Ann`` and ``ann`` as
  one mailbox). It must be ASCII: our mail backend cannot send to internationalized local parts
  (SMTPUTF8), and Unicode case mappings (``K`` KELVIN SIGN → ``k``) would merge addresses that
  are different mailboxes.

Two addresses belong to one customer exactly when their canonical forms are equal, so reads
match the stored value with ``=`` (never ``iexact``: SQL ``UPPER()`` maps ``ı`` to ``I``).
Receipts go to the canonical address too, so whoever reads a mailbox sees only its orders.

An address no mail server can deliver to is refused: a domain that fails IDNA, a label over
63 or a domain over 253 octets once encoded, a local part over 64 octets, an address over 254,
control characters, a local part that is not ASCII.
"""

import idna
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import models

from orgs.text import has_control_characters

MAX_LOCAL_PART_OCTETS = 64  # RFC 5321 4.5.3.1.1
MAX_LABEL_OCTETS = 63  # RFC 1035 2.3.4
MAX_DOMAIN_OCTETS = 253  # RFC 1035, without the root's trailing dot
MAX_ADDRESS_OCTETS = 254  # RFC 5321 path limit (256) minus the angle brackets

INVALID = "Enter a valid email address, like you@example.com."
UNDELIVERABLE = "This email address cannot receive mail: {reason}."

_validate_syntax = EmailValidator(message=INVALID)


def _undeliverable(reason: str) -> ValidationError:
    return ValidationError(UNDELIVERABLE.format(reason=reason), code="undeliverable_email")


def _encoded_label_length(label: str) -> int:
    # An A-label is "xn--" + the punycode of the (mapped) U-label.
    return len(label) if label.isascii() else 4 + len(label.encode("punycode"))


def canonical_domain(domain: str) -> str:
    """The lower-case ASCII (A-label) form of ``domain``; raises ValidationError."""
    try:
        mapped = idna.uts46_remap(domain, std3_rules=True, transitional=False)
    except idna.IDNAError:
        raise _undeliverable("its domain is not a valid domain name") from None
    lengths = [_encoded_label_length(label) for label in mapped.split(".")]
    if max(lengths) > MAX_LABEL_OCTETS:
        raise _undeliverable(
            f"a part of its domain is longer than {MAX_LABEL_OCTETS} characters once encoded"
        )
    if sum(lengths) + len(lengths) - 1 > MAX_DOMAIN_OCTETS:  # the labels and their dots
        raise _undeliverable(
            f"its domain is longer than {MAX_DOMAIN_OCTETS} characters once encoded"
        )
    try:
        return idna.encode(mapped).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        raise _undeliverable("its domain is not a valid domain name") from None


def canonical_email(value: str) -> str:
    """The one stored form of an email address (see the module docstring).

    Raises ValidationError (code ``invalid`` or ``undeliverable_email``) for an address that is
    malformed or that no mail server can deliver to. ``canonical_email`` of a canonical address
    is that address.
    """
    if not isinstance(value, str) or "@" not in value:
        raise ValidationError(INVALID, code="invalid")
    if has_control_characters(value):
        raise ValidationError(
            "An email address must not contain control characters.", code="control_characters"
        )
    local, domain = value.rsplit("@", 1)
    if not local or not domain:
        raise ValidationError(INVALID, code="invalid")
    if not local.isascii():
        raise _undeliverable("we can only send to addresses whose part before @ is plain ASCII")
    if len(local) > MAX_LOCAL_PART_OCTETS:
        raise _undeliverable(f"the part before @ is longer than {MAX_LOCAL_PART_OCTETS} characters")
    address = f"{local.lower()}@{canonical_domain(domain)}"
    _validate_syntax(address)
    if len(address.encode()) > MAX_ADDRESS_OCTETS:
        raise _undeliverable(f"it is longer than {MAX_ADDRESS_OCTETS} characters once encoded")
    return address


def validate_deliverable_email(value: str) -> None:
    """Validator for stored addresses: refuse what ``canonical_email`` refuses."""
    if value:
        canonical_email(value)


class CanonicalEmailField(models.EmailField):
    """An EmailField that validates deliverability and, on ``full_clean`` (admin and model
    forms), stores the canonical form. Services canonicalize before they write."""

    default_validators = [validate_deliverable_email]

    def clean(self, value, model_instance):
        value = super().clean(value, model_instance)
        return canonical_email(value) if value else value
