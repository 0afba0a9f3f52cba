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
  raised once per window (a ``DeclineAlarm`` row, a log warning, the dashboard's sessions page
  and, in live mode, an email to the org's owners).

Only a session's first decline, from a client with no other recent decline, outside an alarm,
shows the processor's specific message ("insufficient funds", "incorrect CVC": what a real
customer needs to fix a typo); every other decline says only ``GENERIC_DECLINE_MESSAGE``.
A refused payment records ``payment_blocked`` once per session, which asks for one callback.
"""

import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.tasks import task
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from checkout.actors import Actor
from checkout.choices import BlockLimit, EventKind
from checkout.limits import client_key, serialize_on
from checkout.locking import SessionLocked, lock_for_update
from checkout.models import CheckoutSession, DeclineAlarm, PaymentAttempt
from checkout.task_queue import enqueue_with_transaction
from checkout.timeline import record_event
from orgs.models import Membership, Mode

logger = logging.getLogger(__name__)

GENERIC_DECLINE_MESSAGE = "Your card was declined. Try another card or contact your bank."
CLIENT_WINDOW = timedelta(hours=1)
# Claims that count against a client: declines, and charges still under way (or whose request
# died mid-call: counted for the hour, on the safe side).
COUNTED_OUTCOMES = (PaymentAttempt.Outcome.PENDING, PaymentAttempt.Outcome.DECLINED)


@dataclass(frozen=True)
class PaymentBlock:
    """A payment refused before the processor was asked, and the limit that refused it."""

    limit: BlockLimit
    declines: int  # what was counted
    maximum: int  # the limit

    @property
    def customer_message(self) -> str:
        if self.limit == BlockLimit.SESSION_DECLINES:
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
        if self.limit == BlockLimit.IP_DECLINES:
            data["window_minutes"] = int(CLIENT_WINDOW.total_seconds() // 60)
        return data


@dataclass(frozen=True)
class AttemptClaim:
    """The right to call the processor once: a pending ``PaymentAttempt`` every server counts."""

    attempt: PaymentAttempt
    # The client's declines and charges under way in the last hour, before this one.
    recent_client_attempts: int


def session_block(session: CheckoutSession) -> PaymentBlock | None:
    """The per-session limit, read from a session locked for update."""
    if not session.declines_exhausted:
        return None
    return PaymentBlock(
        BlockLimit.SESSION_DECLINES,
        session.failed_attempts,
        settings.CARD_TESTING_DECLINES_PER_SESSION,
    )


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
                return PaymentBlock(BlockLimit.IP_DECLINES, recent, maximum)
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
    records ``payment_blocked`` (which asks for the merchant's one callback) and its limit on
    the session (the dashboard's "Blocked"); later refusals write nothing, so a bot hammering
    Pay costs a few reads."""
    if session.payment_blocked:
        return
    session.payment_blocked = block.limit
    session.save(update_fields=["payment_blocked"])
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
        alarm = DeclineAlarm.objects.create(
            org_id=session.org_id,
            mode=session.mode,
            raised_at=now,
            declines=declines,
            window_minutes=settings.CARD_TESTING_ALARM_WINDOW_MINUTES,
            session=session,
        )
        if session.mode == Mode.LIVE:
            enqueue_with_transaction(partial(send_alarm_email_task.enqueue, alarm.pk))
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


# --- The alarm's email to the org's owners ------------------------------------------------------


def alarm_message(alarm: DeclineAlarm, recipients: list[str]) -> EmailMessage:
    """The email telling an org's owners of a card-testing alarm, with the dashboard's link."""
    path = reverse("dashboard:sessions", kwargs={"org_slug": alarm.org.slug, "mode": alarm.mode})
    context = {
        "alarm": alarm,
        "org": alarm.org,
        "sessions_url": f"{settings.SITE_URL}{path}?status=failed",
        "per_session": settings.CARD_TESTING_DECLINES_PER_SESSION,
        "per_ip": settings.CARD_TESTING_DECLINES_PER_IP_PER_HOUR,
    }
    return EmailMessage(
        subject=f"Card-testing alarm: {alarm.declines} declined payments at {alarm.org.name}",
        body=render_to_string("checkout/email/decline_alarm.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=recipients,
    )


@task()
def send_alarm_email_task(alarm_id: int) -> str:
    """Email a live-mode alarm to the org's owners (each owner with an email address), once:
    ``emailed_at`` is recorded, so a re-run after a worker died sends nothing twice."""
    alarm = (
        DeclineAlarm.objects.select_related("org")
        .filter(pk=alarm_id, emailed_at__isnull=True)
        .first()
    )
    if alarm is None:
        return "skipped"
    recipients = sorted(
        Membership.objects.filter(org=alarm.org_id, role=Membership.Role.OWNER)
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )
    if not recipients:
        return "no_owner_email"
    try:
        alarm_message(alarm, recipients).send()
    except (smtplib.SMTPException, OSError, ValueError) as error:
        # The alarm stays on the dashboard; the next window's alarm emails again.
        logger.warning("Card-testing alarm %s not emailed: %s", alarm.pk, error)
        return "failed"
    DeclineAlarm.objects.filter(pk=alarm.pk).update(emailed_at=timezone.now())
    return "sent"
