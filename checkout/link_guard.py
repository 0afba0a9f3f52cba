"""Payment-link bots: opening ``/pay/<link id>`` creates a session and an order (and uses up an
order number), so it must not do that for every request.

- **Link previews** (chat apps, mail scanners, search engines) get a preview page (the product,
  its price, Open Graph tags) and create nothing: the user-agents library's bot detection plus
  the preview agents it misses (``PREVIEW_AGENT_MARKERS``). HEAD requests create nothing either.
- **The same browser** gets its open session back: a signed cookie per link
  (``session_cookie_name``, its path the link's URL) names the session it opened, reused while
  that session still takes payments.
- **A per-IP cap**: at most ``PAYMENT_LINK_SESSIONS_PER_IP_PER_HOUR`` (20) new sessions per link
  and client IP (IPv6: per /64) per hour; past it nothing is created (``LinkCapReached``).
"""

import math
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from user_agents import parse as parse_user_agent

from checkout.actors import Actor
from checkout.choices import SessionSource
from checkout.limits import client_key, serialize_on
from checkout.models import CheckoutSession, PaymentLinkOpen
from checkout.request_context import USER_AGENT_MAX_LENGTH
from checkout.services import create_checkout_session
from orgs.models import PaymentLink

LINK_WINDOW = timedelta(hours=1)
# The cookie naming the session a browser opened from a link: one per link (its name and path
# name the link, so no other page receives it), signed with a salt naming the link too.
SESSION_COOKIE_PREFIX = "checkout_"
SESSION_COOKIE_SALT = "checkout.payment_link:"

# Link-preview and scanning agents the user-agents library (ua-parser's rules) does not call
# bots, matched case-insensitively anywhere in the User-Agent. iMessage's preview agent calls
# itself "facebookexternalhit … Twitterbot"; Microsoft Teams' and Skype's "SkypeUriPreview";
# Signal's and WhatsApp's "WhatsApp/"; Outlook's link previews "Microsoft Office" / "ms-office".
PREVIEW_AGENT_MARKERS = (
    "slackbot",
    "slack-imgproxy",
    "facebookexternalhit",
    "facebot",
    "twitterbot",
    "whatsapp/",
    "telegrambot",
    "discordbot",
    "linkedinbot",
    "googlebot",
    "google-pagerenderer",
    "bingbot",
    "bingpreview",
    "skypeuripreview",
    "applebot",
    "microsoft office",
    "ms-office",
    "outlook-ios",
    "outlook-android",
    "mastodon/",
    "embedly",
    "iframely",
    "vkshare",
    "redditbot",
    "bitlybot",
)


class LinkCapReached(Exception):
    """The client opened as many sessions of this link as it may this hour."""

    def __init__(self, *, retry_after_seconds: int):
        super().__init__(f"Try again in {retry_after_seconds} seconds.")
        self.retry_after_seconds = retry_after_seconds


def is_link_preview(user_agent: str) -> bool:
    """The request comes from a link-preview agent or another bot, not a person's browser."""
    user_agent = user_agent[:USER_AGENT_MAX_LENGTH]
    lowered = user_agent.lower()
    if any(marker in lowered for marker in PREVIEW_AGENT_MARKERS):
        return True
    return parse_user_agent(user_agent).is_bot


def session_cookie_name(link: PaymentLink) -> str:
    """``checkout_plink_…``: the cookie holding the session this browser opened from ``link``."""
    return SESSION_COOKIE_PREFIX + link.public_id


def session_cookie_salt(link: PaymentLink) -> str:
    """The cookie's signing salt: a value signed for one link never opens another's session."""
    return SESSION_COOKIE_SALT + link.public_id


def open_link_session(
    *, link: PaymentLink, ip_address: str | None, now: datetime | None = None
) -> CheckoutSession:
    """Create the session (and order) for one opening of ``link`` by a customer at
    ``ip_address``: ``create_checkout_session``, unless that client already opened the link's
    hourly number of sessions.

    Raises LinkCapReached (nothing created: no session, no order, no order number), or what
    ``create_checkout_session`` raises. Openings of one link by one client are serialized, so
    concurrent requests cannot pass the cap together.
    """
    key = client_key(ip_address)
    maximum = settings.PAYMENT_LINK_SESSIONS_PER_IP_PER_HOUR
    now = now or timezone.now()
    with transaction.atomic():
        if key and maximum > 0:
            serialize_on("link_guard.open", link.pk, key)
            opened = list(
                PaymentLinkOpen.objects.filter(
                    link=link, ip_key=key, created_at__gt=now - LINK_WINDOW
                )
                .order_by("created_at")
                .values_list("created_at", flat=True)[:maximum]
            )
            if len(opened) >= maximum:
                # Until the oldest counted opening leaves the window.
                wait = (opened[0] + LINK_WINDOW - now).total_seconds()
                raise LinkCapReached(retry_after_seconds=max(1, math.ceil(wait)))
        session = create_checkout_session(
            org=link.org,
            mode=link.mode,
            source=SessionSource.PAYMENT_LINK,
            actor=Actor.customer(),
            link=link,
            now=now,
        )
        if key:
            PaymentLinkOpen.objects.create(link=link, ip_key=key, created_at=now)
    return session
