"""The dashboard's display vocabulary, beside checkout_display's money and status badges:
relative times with the exact time on hover, and what a session sells in a few words.

``{% load dashboard_display %}``, then::

    {% relative_time session.expires_at now %}
        <time datetime="…" title="24 Nov 2026, 03:12:09 UTC">in 12 min</time>
    {{ session|product_name }}                   Espresso beans, 1 kg   /   Mug + 2 more
"""

from datetime import UTC, datetime

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

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
