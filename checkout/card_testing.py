"""Card testing: the limits on declined payments, and what a card tester gets to learn.

A card tester runs stolen card numbers through a checkout to learn which are live. Three limits
(settings, README "Limits"), each counted where every app server sees it (``checkout.limits``):

- **declines per session** (``CARD_TESTING_DECLINES_PER_SESSION``, 5): read under the session's
  row lock from ``failed_attempts``, so exact. Past it the session takes no more cards.
- **declines per client IP per hour** (``CARD_TESTING_DECLINES_PER_IP_PER_HOUR``, 20): every
  processor call is claimed first (a ``PaymentAttempt``, committed before the call, counted while
  under way), one claim per client at a time, so the processor is never asked past the limit.
- **the org's velocity alarm** (``CARD_TESTING_ALARM_DECLINES`` declines of one org and mode
  within ``CARD_TESTING_ALARM_WINDOW_MINUTES``, 30 in 10): payments still go through, but while
  the declines stay that high every customer gets the generic decline message; the alarm is
  raised once per window (a ``DeclineAlarm`` row and a log warning).

Only a session's first decline, from a client with no other recent decline, outside an alarm,
shows the processor's specific message ("insufficient funds", "incorrect CVC": what a real
customer needs to fix a typo); every other decline says only ``GENERIC_DECLINE_MESSAGE``.
A refused payment records ``payment_blocked`` once per session, which asks for one callback.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from checkout.actors import Actor
from checkout.choices import EventKind
from checkout.limits import client_key, serialize_on
from checkout.locking import SessionLocked, lock_for_update
from checkout.models import CheckoutSession, DeclineAlarm, PaymentAttempt, TimelineEvent
from checkout.timeline import record_event

logger = logging.getLogger(__name__)

GENERIC_DECLINE_MESSAGE = "Your card was declined. Try another card or contact your bank."
CLIENT_WINDOW = timedelta(hours=1)
# Claims that count against a client: declines, and charges still under way (or whose request
# died mid-call: counted for the hour, on the safe side).
COUNTED_OUTCOMES = (PaymentAttempt.Outcome.PENDING, PaymentAttempt.Outcome.DECLINED)


class Limit(StrEnum):
    SESSION_DECLINES = "session_declines"
    IP_DECLINES = "ip_declines"


@dataclass(frozen=True)
class PaymentBlock:
    """A payment refused before the processor was asked, and the limit that refused it."""

    limit: Limit
    declines: int  # what was counted
    maximum: int  # the limit

    @property
    def customer_message(self) -> str:
        if self.limit == Limit.SESSION_DECLINES:
            return (
                f"This checkout has had {self.declines} declined payments, so for your "
                "security it no longer accepts cards. Nothing was charged."
            )
        return (
            "Too many payments from your network were declined in the last hour, so this card "
            "was not tried. Nothing was charged. Try again later."
        )

    def event_data(self) -> dict:
        data = {"limit": str(self.limit), "declines": self.declines, "maximum": self.maximum}
        if self.limit == Limit.IP_DECLINES:
            data["window_minutes"] = int(CLIENT_WINDOW.total_seconds() // 60)
        return data


@dataclass(frozen=True)
class AttemptClaim:
    """The right to call the processor once: a pending ``PaymentAttempt`` every server counts."""

    attempt: PaymentAttempt
    # The client's declines and charges under way in the last hour, before this one.
    recent_client_attempts: int


def session_limit() -> int:
    return settings.CARD_TESTING_DECLINES_PER_SESSION


def declines_exhausted(session: CheckoutSession) -> bool:
    """The session has used up its declines: it takes no more cards (its page says so)."""
    maximum = session_limit()
    return maximum > 0 and session.failed_attempts >= maximum


def session_block(session: CheckoutSession) -> PaymentBlock | None:
    """The per-session limit, read from a session locked for update."""
    if not declines_exhausted(session):
        return None
    return PaymentBlock(Limit.SESSION_DECLINES, session.failed_attempts, session_limit())


def claim_attempt(
    *, session: CheckoutSession, ip_address: str | None, now: datetime | None = None
) -> AttemptClaim | PaymentBlock:
    """Claim one processor call for ``session`` from ``ip_address``, or refuse it when the
    client reached its declines for the hour.

    Its own short transaction, committed before the charge (call it outside any other): the
    claim is counted by every request that comes after, on every server, while the charge is
    under way. Claims of one client are serialized, so none is granted past the limit.
    """
    key = client_key(ip_address)
    maximum = settings.CARD_TESTING_DECLINES_PER_IP_PER_HOUR
    now = now or timezone.now()
    with transaction.atomic():
        recent = 0
        if key:
            serialize_on("card_testing.client", key)
            counted = PaymentAttempt.objects.filter(
                ip_key=key, outcome__in=COUNTED_OUTCOMES, created_at__gt=now - CLIENT_WINDOW
            )
            recent = (counted[:maximum] if maximum > 0 else counted).count()
            if maximum > 0 and recent >= maximum:
                return PaymentBlock(Limit.IP_DECLINES, recent, maximum)
        attempt = PaymentAttempt.objects.create(
            org_id=session.org_id, mode=session.mode, session=session, ip_key=key, created_at=now
        )
    return AttemptClaim(attempt=attempt, recent_client_attempts=recent)


def release_claim(claim: AttemptClaim | PaymentBlock | None) -> None:
    """Give back a claim whose processor call was not made (paid, expired, locked meanwhile)."""
    if isinstance(claim, AttemptClaim):
        PaymentAttempt.objects.filter(pk=claim.attempt.pk).delete()


def settle_claim(claim: AttemptClaim, outcome: str) -> None:
    """Record how the claimed call ended (inside the payment's transaction)."""
    claim.attempt.outcome = PaymentAttempt.Outcome(outcome)
    claim.attempt.save(update_fields=["outcome"])


def record_block(*, session: CheckoutSession, block: PaymentBlock) -> None:
    """Record a refused payment on a session locked for update: the first one of a session
    records ``payment_blocked`` (which asks for the merchant's one callback); later refusals
    write nothing, so a bot hammering Pay costs a few reads."""
    if TimelineEvent.objects.filter(session=session, kind=EventKind.PAYMENT_BLOCKED).exists():
        return
    record_event(
        session=session,
        kind=EventKind.PAYMENT_BLOCKED,
        actor=Actor.customer(),
        data=block.event_data(),
    )


def refuse_exhausted_session(*, session: CheckoutSession) -> None:
    """A payment posted to a session that used up its declines (its page shows no form any
    more; a script posts anyway): record the block like ``pay_checkout_session`` does, once.
    A payment of the session under way meanwhile is left alone."""
    try:
        with transaction.atomic():
            locked = lock_for_update(session, max_wait=timedelta(0))
            block = session_block(locked)
            if block is not None and not locked.order.is_paid and locked.is_active:
                record_block(session=locked, block=block)
    except SessionLocked:
        return


def record_decline(*, claim: AttemptClaim, session: CheckoutSession, attempt: int) -> bool:
    """Record a declined call (inside the payment's transaction) and check the org's velocity
    alarm. Returns whether the customer may see the processor's specific message."""
    settle_claim(claim, PaymentAttempt.Outcome.DECLINED)
    alarm = _org_under_alarm(session=session, now=claim.attempt.created_at)
    return attempt == 1 and claim.recent_client_attempts == 0 and not alarm


def customer_decline_message(message: str, *, specific: bool) -> str:
    """What the customer is told of a decline: the processor's friendly message only when
    ``specific`` (see ``record_decline``), otherwise the generic one."""
    return (message or GENERIC_DECLINE_MESSAGE) if specific else GENERIC_DECLINE_MESSAGE


def _org_under_alarm(*, session: CheckoutSession, now: datetime) -> bool:
    threshold = settings.CARD_TESTING_ALARM_DECLINES
    if threshold <= 0:
        return False
    window = timedelta(minutes=settings.CARD_TESTING_ALARM_WINDOW_MINUTES)
    # Counting stops at the threshold: an attack's thousands of declines cost no more to check.
    declines = PaymentAttempt.objects.filter(
        org_id=session.org_id,
        mode=session.mode,
        outcome=PaymentAttempt.Outcome.DECLINED,
        created_at__gt=now - window,
    )[:threshold].count()
    if declines < threshold:
        return False
    # One alarm per window, however many declines arrive at once.
    serialize_on("card_testing.alarm", session.org_id, session.mode)
    raised = DeclineAlarm.objects.filter(
        org_id=session.org_id, mode=session.mode, raised_at__gt=now - window
    ).exists()
    if not raised:
        DeclineAlarm.objects.create(
            org_id=session.org_id,
            mode=session.mode,
            raised_at=now,
            declines=declines,
            window_minutes=settings.CARD_TESTING_ALARM_WINDOW_MINUTES,
            session=session,
        )
        logger.warning(
            "Card-testing alarm: org %s had %d declined %s-mode payments in %d minutes "
            "(threshold %d; last on session %s). Every decline now shows the generic message.",
            session.org.slug,
            declines,
            session.mode,
            settings.CARD_TESTING_ALARM_WINDOW_MINUTES,
            threshold,
            session.public_id,
        )
    return True
