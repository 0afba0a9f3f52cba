"""Callback URLs a merchant may give: http(s) only, and (SSRF guard) no host resolving to an
address that is not on the public internet, unless ``CALLBACK_ALLOW_PRIVATE``.

The rule is checked where a URL is given (the org's and a payment link's ``callback_url``
fields validate with ``validate_callback_url``, and the session service calls it) and again at
each delivery (``resolve_callback_address``, whose address the delivery connects to, so DNS
cannot change between the check and the connection). Which addresses are public is
``orgs.public_addresses`` (IANA's special-purpose registries).
"""

import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

from orgs.public_addresses import is_public_address
from orgs.text import sentence_end


class UnsafeCallbackUrl(ValueError):
    """The URL is not http(s), or its host resolves to an address we must not call."""


def host_and_port(url: str) -> tuple[str, str, int]:
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise UnsafeCallbackUrl(sentence_end(f"Invalid callback URL: {error}")) from None
    if parts.scheme not in {"http", "https"} or not host:
        raise UnsafeCallbackUrl("Callback URLs must be http:// or https:// URLs with a host.")
    try:
        # What getaddrinfo would do: a label over 63 bytes (after punycode) fails here.
        host.encode("idna")
    except UnicodeError:
        raise UnsafeCallbackUrl(f"Invalid host name in callback URL: {host!r}.") from None
    return parts.scheme, host, port


def resolve_callback_address(url: str) -> str:
    """The address to connect to for ``url``; raises UnsafeCallbackUrl (or OSError on DNS)."""
    _scheme, host, port = host_and_port(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except ValueError as error:  # UnicodeError (IDNA), an embedded NUL
        raise UnsafeCallbackUrl(
            sentence_end(f"Invalid host name in callback URL: {error}")
        ) from None
    addresses = [info[4][0] for info in infos]
    if not settings.CALLBACK_ALLOW_PRIVATE:
        refused = [address for address in addresses if not is_public_address(address)]
        # One private answer is enough to refuse: DNS may hand out the others next time.
        if refused:
            raise UnsafeCallbackUrl(
                # Which address is not said: that would answer DNS questions about private
                # networks to whoever submits a URL.
                f"{host} resolves to a non-public address; "
                "callbacks to private networks are disabled (CALLBACK_ALLOW_PRIVATE)."
            )
    return addresses[0]


def check_callback_url(url: str) -> None:
    """Refuse a callback URL given by a merchant if it is unsafe (raises UnsafeCallbackUrl).

    A host that does not resolve yet is accepted: delivery checks again and records failures.
    """
    if settings.CALLBACK_ALLOW_PRIVATE:
        # Any address is allowed, so only the URL's form matters; no DNS lookup needed.
        host_and_port(url)
        return
    try:
        resolve_callback_address(url)
    except OSError:
        return


def validate_callback_url(url: str) -> None:
    """A model field validator: the SSRF rule as a ValidationError (empty means none)."""
    if not url:
        return
    try:
        check_callback_url(url)
    except UnsafeCallbackUrl as error:
        raise ValidationError(str(error), code="unsafe_callback_url") from None
