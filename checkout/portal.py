"""The customer portal: signed, expiring links to a customer's paid orders at one merchant.

A token signs one paid order's public id together with a scope, under its own salt and with a
timestamp; the order names the org, the mode and the customer's email, so no personal data sits
in the URL. The scope decides what the link opens:

- ``order``: only that order's receipt. The thank-you and receipt pages show this link, because
  whoever paid typed the email themselves and has proved nothing about that mailbox.
- ``customer``: every paid order of that email at that org and mode. Issued only where reaching
  the link proves the mailbox: the receipt email (and a merchant sending the link to the customer).

It expires after PORTAL_LINK_MAX_AGE_DAYS; a tampered, altered or expired token is "not found".
"""

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from django.conf import settings
from django.core import signing
from django.urls import reverse

from checkout.models import Order
from checkout.queries import OrderQuerySet

PORTAL_SALT = "checkout.portal"


class PortalScope(StrEnum):
    ORDER = "order"  # one order's receipt: safe to show to whoever paid
    CUSTOMER = "customer"  # all the customer's orders: only through their mailbox


@dataclass(frozen=True)
class PortalAccess:
    org_id: int
    mode: str
    email: str
    order_public_id: str
    scope: PortalScope


def portal_token(order: Order, *, scope: PortalScope) -> str:
    """A signed, expiring token opening ``order`` alone or all of its customer's orders."""
    return signing.dumps({"order": order.public_id, "scope": str(scope)}, salt=PORTAL_SALT)


def portal_path(order: Order, *, scope: PortalScope) -> str:
    """The portal link (path only) for a paid order, with the given scope."""
    return reverse("checkout:portal", args=[portal_token(order, scope=scope)])


def portal_url(order: Order, *, scope: PortalScope) -> str:
    """The absolute portal link: scope ``customer`` only for the receipt email and merchants."""
    return settings.SITE_URL + portal_path(order, scope=scope)


def read_portal_token(token: str) -> PortalAccess | None:
    """What the token grants access to, or None when it is tampered, malformed or expired."""
    try:
        claims = signing.loads(
            token,
            salt=PORTAL_SALT,
            max_age=timedelta(days=settings.PORTAL_LINK_MAX_AGE_DAYS),
        )
    except signing.BadSignature:
        return None
    if not isinstance(claims, dict) or set(claims) != {"order", "scope"}:
        return None
    try:
        scope = PortalScope(claims["scope"])
    except ValueError:
        return None
    order = (
        Order.objects.paid()
        .filter(public_id=str(claims["order"]))
        .exclude(customer_email="")
        .values("org_id", "mode", "customer_email", "public_id")
        .first()
    )
    if order is None:
        return None
    return PortalAccess(
        org_id=order["org_id"],
        mode=order["mode"],
        email=order["customer_email"],
        order_public_id=order["public_id"],
        scope=scope,
    )


def portal_orders(access: PortalAccess) -> OrderQuerySet:
    """The paid orders the token opens, newest first, with what a receipt shows."""
    orders = Order.objects.filter(org_id=access.org_id, mode=access.mode).paid()
    if access.scope == PortalScope.ORDER:
        orders = orders.filter(public_id=access.order_public_id)
    else:
        orders = orders.for_customer(access.email)
    return orders.select_related("org").prefetch_related("items").order_by("-paid_at", "-id")


class PortalUnavailable(Exception):
    """The session has no portal to open: its order is unpaid or has no customer email."""


def customer_portal_url(session) -> str:
    """The portal link to all the purchases of a paid session's customer (scope ``customer``),
    for the merchant to send them. Raises PortalUnavailable for an unpaid session or an order
    without an email (its link would open nothing)."""
    order = session.order
    if not order.is_paid or not order.customer_email:
        raise PortalUnavailable(
            f"Session {session.public_id} has no customer portal: "
            + ("it is not paid." if not order.is_paid else "its order has no customer email.")
        )
    return portal_url(order, scope=PortalScope.CUSTOMER)
