"""What the hosted page learns about the customer's browser: client IP (trusted-proxy aware),
device type from the User-Agent, and the locale amounts are shown in."""

import ipaddress
from dataclasses import dataclass
from functools import lru_cache

from babel.core import Locale, UnknownLocaleError
from django.conf import settings
from django.http import HttpRequest
from user_agents import parse as parse_user_agent

from checkout.choices import DeviceType
from checkout.money import DEFAULT_LOCALE

USER_AGENT_MAX_LENGTH = 500  # CheckoutSession.user_agent
ACCEPT_LANGUAGE_MAX_LENGTH = 500  # longer headers are junk; never parse them


@dataclass(frozen=True)
class CustomerContext:
    """The request facts recorded on a session whenever the customer acts on it."""

    ip_address: str | None = None
    user_agent: str = ""
    device_type: str = DeviceType.OTHER


def _valid_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    """The customer's IP: REMOTE_ADDR, or the X-Forwarded-For entry our trusted proxies added.

    Each trusted proxy appends the address it received the request from, so with N proxies the
    client is the N-th entry from the right; anything further left is client-controlled.
    """
    remote_addr = _valid_ip(request.META.get("REMOTE_ADDR", ""))
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote_addr
    forwarded = [entry.strip() for entry in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [entry for entry in forwarded if entry]
    if len(forwarded) < proxies:
        # The request skipped a proxy we expect: nothing in the header can be trusted.
        return remote_addr
    return _valid_ip(forwarded[-proxies]) or remote_addr


def device_type(user_agent: str) -> str:
    """desktop / mobile / tablet from the User-Agent (the maintained ua-parser rules)."""
    parsed = parse_user_agent(user_agent[:USER_AGENT_MAX_LENGTH])
    if parsed.is_tablet:
        return DeviceType.TABLET
    if parsed.is_mobile:
        return DeviceType.MOBILE
    if parsed.is_pc:
        return DeviceType.DESKTOP
    return DeviceType.OTHER


def customer_context(request: HttpRequest) -> CustomerContext:
    """The context to record for this request."""
    user_agent = request.headers.get("User-Agent", "")[:USER_AGENT_MAX_LENGTH]
    return CustomerContext(
        ip_address=client_ip(request),
        user_agent=user_agent,
        device_type=device_type(user_agent),
    )


def customer_locale(request: HttpRequest) -> str:
    """The first Accept-Language entry babel knows (amounts follow the customer's locale),
    parsed once per header value."""
    return _locale_of(request.headers.get("Accept-Language", ""))


@lru_cache(maxsize=256)
def _locale_of(header: str) -> str:
    if len(header) > ACCEPT_LANGUAGE_MAX_LENGTH:
        return DEFAULT_LOCALE
    for entry in header.split(","):
        tag = entry.split(";")[0].strip().replace("-", "_")
        if not tag or tag == "*":
            continue
        try:
            locale = Locale.parse(tag)
        except (ValueError, TypeError, UnknownLocaleError):
            continue
        # A bare language ("de") formats money without a territory; CLDR's default is fine.
        return str(locale)
    return DEFAULT_LOCALE
