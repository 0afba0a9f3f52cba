"""The dashboard's display vocabulary, beside checkout_display's money and status badges:
relative times with the exact time on hover, what a session sells in a few words, countries by
name and browsers from their User-Agent.

``{% load dashboard_display %}``, then::

    {% relative_time session.expires_at now %}
        <time datetime="…" title="24 Nov 2026, 03:12:09 UTC">in 12 min</time>
    {{ session|product_name }}                   Espresso beans, 1 kg   /   Mug + 2 more
    {{ session.customer_country|country_name }}  United States
    {{ session.user_agent|browser_and_os }}      Chrome 126 on Mac OS X 14.5
"""

from datetime import UTC, datetime
from functools import lru_cache

from babel import Locale
from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString
from ua_parser import parse as parse_user_agent

from checkout.request_context import USER_AGENT_MAX_LENGTH

register = template.Library()

MINUTE, HOUR, DAY = 60, 3600, 86400


def relative_words(moment: datetime, now: datetime) -> str:
    """``just now``, ``5 min ago``, ``in 12 min``, ``3 h ago``, ``2 d ago``; beyond a week
    the date (``3 Nov``, with the year when it is not this one)."""
    seconds = (moment - now).total_seconds()
    distance = abs(seconds)
    if distance < MINUTE:
        return "just now" if seconds <= 0 else "in under a minute"
    if distance < HOUR:
        amount = f"{int(distance // MINUTE)} min"
    elif distance < DAY:
        amount = f"{int(distance // HOUR)} h"
    elif distance < 7 * DAY:
        amount = f"{int(distance // DAY)} d"
    else:
        return f"{moment:%-d %b}" if moment.year == now.year else f"{moment:%-d %b %Y}"
    return f"in {amount}" if seconds > 0 else f"{amount} ago"


@register.simple_tag
def relative_time(moment: datetime | None, now: datetime) -> SafeString:
    """A ``<time>`` saying how long ago (or until) ``moment``, exact to the second on hover."""
    if moment is None:
        return format_html('<span class="muted">—</span>')
    moment = moment.astimezone(UTC)
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        moment.isoformat(),
        f"{moment:%-d %b %Y, %H:%M:%S} UTC",
        relative_words(moment, now),
    )


@register.filter
def product_name(session) -> str:
    """The payment link's name, else the first item's (``Mug + 2 more``); reads the items
    the list prefetched."""
    if session.payment_link_id and session.payment_link:
        return session.payment_link.name
    items = list(session.order.items.all())
    if not items:
        return ""
    more = f" + {len(items) - 1} more" if len(items) > 1 else ""
    return f"{items[0].name}{more}"


@lru_cache(maxsize=1)
def _territory_names() -> dict[str, str]:
    return dict(Locale.parse("en").territories)


@register.filter
def country_name(code: str) -> str:
    """An ISO 3166-1 code as its English name (CLDR): ``US`` → ``United States``; an unknown
    code as given."""
    code = str(code or "").upper()
    return _territory_names().get(code, code) if code.isalpha() else code


def _version(part, *, minor: bool) -> str:
    numbers = [part.major, part.minor] if minor and part.minor else [part.major]
    return f"{part.family} {'.'.join(numbers)}" if part.major else part.family


@lru_cache(maxsize=512)
def browser_and_os(user_agent: str) -> str:
    """The browser and operating system a User-Agent names (``Chrome 126 on Mac OS X 14.5``),
    from ua-parser's maintained rules; "" when it names neither."""
    result = parse_user_agent(str(user_agent or "")[:USER_AGENT_MAX_LENGTH])
    browser = _version(result.user_agent, minor=False) if result.user_agent else ""
    system = _version(result.os, minor=True) if result.os else ""
    if browser and system:
        return f"{browser} on {system}"
    return browser or system


register.filter("browser_and_os", browser_and_os)
