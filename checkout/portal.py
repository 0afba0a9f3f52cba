"""The customer portal: a signed, expiring link to one customer's paid orders at one merchant.

The token is one paid order's public id, signed (with a timestamp) under its own salt; that
order names the org, the mode and the customer's email, so no personal data sits in the URL.
It expires after PORTAL_LINK_MAX_AGE_DAYS; a tampered or expired token is simply "not found".
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.urls import reverse

from checkout.models import Order
from checkout.queries import OrderQuerySet

PORTAL_SALT = "checkout.portal"


@dataclass(frozen=True)
class PortalAccess:
    org_id: int
    mode: str
    email: str


def portal_token(order: Order) -> str:
    """A signed, expiring token opening the portal of ``order``'s customer."""
    return signing.dumps(order.public_id, salt=PORTAL_SALT)


def portal_path(order: Order) -> str:
    """The portal link (path only) for the customer of a paid order."""
    return reverse("checkout:portal", args=[portal_token(order)])


def portal_url(order: Order) -> str:
    """The absolute portal link, for emails and the dashboard's "Copy portal link"."""
    return settings.SITE_URL + portal_path(order)


def read_portal_token(token: str) -> PortalAccess | None:
    """Who the token grants access to, or None when it is tampered, malformed or expired."""
    try:
        order_id = signing.loads(
            token,
            salt=PORTAL_SALT,
            max_age=timedelta(days=settings.PORTAL_LINK_MAX_AGE_DAYS),
        )
    except signing.BadSignature:
        return None
    order = (
        Order.objects.paid()
        .filter(public_id=str(order_id))
        .exclude(customer_email="")
        .values("org_id", "mode", "customer_email")
        .first()
    )
    if order is None:
        return None
    return PortalAccess(org_id=order["org_id"], mode=order["mode"], email=order["customer_email"])


def portal_orders(access: PortalAccess) -> OrderQuerySet:
    """The customer's paid orders, newest first, with what a receipt shows."""
    return (
        Order.objects.filter(org_id=access.org_id, mode=access.mode)
        .paid()
        .for_customer(access.email)
        .select_related("org")
        .prefetch_related("items")
        .order_by("-paid_at", "-id")
    )
