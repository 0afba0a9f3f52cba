"""One canonical form per email address (orgs.emails): the domain IDNA-encoded and lower-cased,
the local part lower-cased; an address no mail server can deliver to is refused with why."""

import importlib

import pytest
from django.apps import apps as django_apps
from django.core.exceptions import ValidationError

from orgs.emails import canonical_email
from orgs.models import Organization
from tests.factories import OrganizationFactory

LONG_LABEL_EMAIL = "a@" + "é" * 60 + ".com"  # 60 characters, 124 octets once punycoded


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("victim@gmail.com", "victim@gmail.com"),
        ("Victim@GMAIL.com", "victim@gmail.com"),
        ("victim@gmaıl.com", "victim@xn--gmal-nza.com"),  # dotless ı: another domain
        ("victim@GMAİL.com", "victim@xn--gmail-bgd.com"),  # dotted İ maps to i̇, not i
        ("zoe@Bücher.example", "zoe@xn--bcher-kva.example"),
        ("ann@ＧＭＡＩＬ.com", "ann@gmail.com"),  # full-width letters are the same domain
        ("o'brien+receipts@example.co.uk", "o'brien+receipts@example.co.uk"),
    ],
)
def test_canonical_email_encodes_the_domain_and_lower_cases(typed, canonical):
    assert canonical_email(typed) == canonical


@pytest.mark.parametrize("typed", ["Victim@GMAIL.com", "victim@gmaıl.com", "zoe@Bücher.example"])
def test_canonical_email_of_a_canonical_address_is_itself(typed):
    canonical = canonical_email(typed)

    assert canonical_email(canonical) == canonical


def test_a_lookalike_domain_is_never_the_same_customer():
    assert canonical_email("victim@gmaıl.com") != canonical_email("victim@gmail.com")


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        (LONG_LABEL_EMAIL, "longer than 63 characters once encoded"),
        ("a@" + ".".join(["b" * 60] * 5) + ".example", "longer than 253 characters"),
        ("x" * 65 + "@example.com", "the part before @ is longer than 64 characters"),
        ("victim@-gmail.com", "not a valid domain name"),
        ("victim@xn--zz.com", "not a valid domain name"),
        ("vıctim@gmail.com", "plain ASCII"),
        ("\u212aate@example.com", "plain ASCII"),  # KELVIN SIGN, which lower-cases to k
        ("ann@example.com\r\nBcc: all@example.com", "control characters"),
        ("ann\x00@example.com", "control characters"),
        ("ann@example.com.", "Enter a valid email address"),
        ("not-an-email", "Enter a valid email address"),
    ],
)
def test_undeliverable_addresses_are_refused_saying_why(typed, reason):
    with pytest.raises(ValidationError) as refused:
        canonical_email(typed)

    [message] = refused.value.messages
    assert reason in message
    assert not message.endswith("..")


@pytest.mark.django_db
def test_an_org_support_email_that_cannot_receive_mail_is_refused():
    org = OrganizationFactory.build(slug="acme", support_email=LONG_LABEL_EMAIL)

    with pytest.raises(ValidationError) as refused:
        org.full_clean()

    assert "cannot receive mail" in refused.value.message_dict["support_email"][0]


@pytest.mark.django_db
def test_the_migration_stores_existing_support_emails_canonical_and_leaves_invalid_ones():
    migration = importlib.import_module("orgs.migrations.0016_support_email_canonical")
    mixed_case = OrganizationFactory(support_email="")
    invalid = OrganizationFactory(support_email="")
    Organization.objects.filter(pk=mixed_case.pk).update(support_email="Help@Example.COM")
    Organization.objects.filter(pk=invalid.pk).update(support_email="not an email")

    migration.canonicalize_support_emails(django_apps, schema_editor=None)

    assert Organization.objects.get(pk=mixed_case.pk).support_email == "help@example.com"
    assert Organization.objects.get(pk=invalid.pk).support_email == "not an email"
