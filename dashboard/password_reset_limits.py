"""Password reset limits: at most ``PASSWORD_RESETS_PER_ADDRESS_PER_HOUR`` (3) requests for one
address and ``PASSWORD_RESETS_PER_IP_PER_HOUR`` (10) from one client IP (IPv6: one /64) an
hour, so the reset form can't be used to flood someone's inbox or to mail every address on a
list. Past either, the view shows the same "check your email" page and sends nothing.

Counted in the database like the other abuse limits (``checkout.limits``: rows, and one lock per
counted key so that counting and recording are one step on every app server). The address is
stored as a hash of its canonical form: the table says how often, not who.
"""

import hashlib
import logging
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from checkout.limits import client_key, serialize_on
from orgs.emails import canonical_email
from orgs.models import PasswordResetRequest

logger = logging.getLogger(__name__)

WINDOW = timedelta(hours=1)


def address_key(email: str) -> str:
    """The hash reset requests for ``email`` count under (its canonical form, so ``Jenny@X.com``
    and ``jenny@x.com`` are one address)."""
    try:
        address = canonical_email(email)
    except ValidationError:
        address = email.strip().lower()
    return hashlib.sha256(address.encode("utf-8", "surrogatepass")).hexdigest()


def claim_password_reset(*, email: str, ip_address: str | None) -> bool:
    """Record a reset request for ``email`` from ``ip_address``; False (and nothing recorded)
    when the address or the client has had its share this hour."""
    per_address = settings.PASSWORD_RESETS_PER_ADDRESS_PER_HOUR
    per_ip = settings.PASSWORD_RESETS_PER_IP_PER_HOUR
    address = address_key(email)
    client = client_key(ip_address)
    since = timezone.now() - WINDOW
    with transaction.atomic():
        # Always the address first, then the client: one order, so no two requests wait on
        # each other in a circle.
        serialize_on("password_reset_address", address)
        if client:
            serialize_on("password_reset_ip", client)
        recent = PasswordResetRequest.objects.filter(created_at__gte=since)
        if per_address > 0 and recent.filter(address_key=address).count() >= per_address:
            logger.warning(
                "Password reset refused: %d requests for one address in the last hour "
                "(address hash %s…, client %s).",
                per_address,
                address[:12],
                client or "unknown",
            )
            return False
        if per_ip > 0 and client and recent.filter(ip_key=client).count() >= per_ip:
            logger.warning(
                "Password reset refused: %d requests from client %s in the last hour.",
                per_ip,
                client,
            )
            return False
        PasswordResetRequest.objects.create(address_key=address, ip_key=client)
    return True
