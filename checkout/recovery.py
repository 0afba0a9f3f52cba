"""Recovering a sale: the email offering a customer a fresh checkout link for the same items, the
task that sends it, the ``mailto:`` alternative for merchants who write from their own mail
client, and what a session's recoveries so far say (the last email, a recovery already paid).

The service that creates the recovery session is ``checkout.services.recover_session``. Events:
the old session records ``recovered_by`` (naming the new session, who asked, and whether we email
the customer); the task then records ``recovery_sent`` or ``recovery_failed`` on it. The new
session's ``session_created`` names the old one (``recovered_from``): linked both ways.
"""

import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.tasks import TaskContext, task
from django.template.loader import render_to_string

from checkout.actors import Actor
from checkout.choices import EventKind
from checkout.effective_settings import effective_settings
from checkout.erasure import record_email_to_customer
from checkout.models import CheckoutSession, TimelineEvent
from checkout.money import format_money
from checkout.session_json import session_url

logger = logging.getLogger(__name__)

# At most one recovery email per session in this window: a merchant's reminder, not spam.
RECOVERY_EMAIL_INTERVAL = timedelta(hours=24)


def recovery_context(session: CheckoutSession) -> dict:
    """What a recovery email shows: the new session's org, items, total and link."""
    return {
        "session": session,
        "order": session.order,
        "org": session.org,
        "effective": effective_settings(session),
        "checkout_url": session_url(session),
    }


def _subject(session: CheckoutSession) -> str:
    # A test session's email says so from the inbox on: nothing would be charged for real.
    test_mode = "[Test mode] " if session.order.is_test_mode else ""
    return f"{test_mode}Complete your purchase from {session.org.name}"


def recovery_message(session: CheckoutSession) -> EmailMultiAlternatives:
    """The recovery email (text + HTML) for a recovery ``session``, to its customer."""
    context = recovery_context(session)
    org = session.org
    message = EmailMultiAlternatives(
        subject=_subject(session),
        body=render_to_string("checkout/email/recovery.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[session.customer_email],
        reply_to=[org.support_email] if org.support_email else None,
    )
    message.attach_alternative(
        render_to_string("checkout/email/recovery.html", context), "text/html"
    )
    return message


def recovery_mailto(session: CheckoutSession) -> str:
    """A ``mailto:`` URL to the customer of a recovery ``session`` (the new one), its subject
    and body prefilled with the items, the total and the checkout link: for merchants who send
    it from their own mail client. Every part is percent-encoded (no header can be added).
    Raises ValueError for a session that is no recovery (its link would reopen the old one)."""
    if session.recovered_from_id is None:
        raise ValueError(
            f"Session {session.public_id} is not a recovery: pass recover_session's new session."
        )
    order = session.order
    lines = [
        "Hello,",
        "",
        f"Your purchase from {session.org.name} did not go through. You can complete it here:",
        session_url(session),
        "",
        *(
            f"{item.name} × {item.quantity}: {format_money(item.amount, order.currency)}"
            for item in order.items.all()
        ),
        f"Total: {format_money(order.amount_total, order.currency)}",
    ]
    if order.is_test_mode:
        lines += ["", "(Test mode: nothing will be charged.)"]
    return (
        f"mailto:{quote(session.customer_email, safe='@')}"
        f"?subject={quote(_subject(session), safe='')}"
        f"&body={quote(chr(10).join(lines), safe='')}"
    )


def send_recovery_email(
    *, session: CheckoutSession, actor: Actor, send_id: str | None = None
) -> TimelineEvent:
    """Email the recovery ``session``'s link to its customer; record ``recovery_sent``, or
    ``recovery_failed`` with the error, on the session it recovers (as ``send_receipt`` does:
    a failure reaches the timeline, never an exception nobody sees)."""
    recovered = session.recovered_from or session
    data = {"to": session.customer_email, "recovery_session": session.public_id}
    if send_id:
        data["send"] = send_id
    try:
        recovery_message(session).send()
    except (smtplib.SMTPException, OSError, ValueError) as error:
        # ValueError: the mail library refuses a header (a CR/LF in an org name) or an address.
        logger.warning("Recovery email for %s not sent: %s", session.public_id, error)
        return _record_failed(recovered, actor, error, data)
    except Exception as error:  # noqa: BLE001 - recorded below, and logged with its traceback
        logger.exception("Recovery email for %s failed unexpectedly", session.public_id)
        return _record_failed(recovered, actor, error, data)
    return record_email_to_customer(
        session=recovered, kind=EventKind.RECOVERY_SENT, actor=actor, to=data["to"], data=data
    )


def _record_failed(
    session: CheckoutSession, actor: Actor, error: Exception, data: dict
) -> TimelineEvent:
    return record_email_to_customer(
        session=session,
        kind=EventKind.RECOVERY_FAILED,
        actor=actor,
        to=data["to"],
        data={**data, "error": f"{type(error).__name__}: {error}"[:300]},
    )


@task(takes_context=True)
def send_recovery_email_task(
    context: TaskContext, recovery_session_public_id: str, actor: dict | None = None
) -> str:
    """Send a recovery email in the background (enqueued by ``recover_session``); ``actor`` is
    the merchant user who asked (``Actor.as_task_argument``)."""
    session = CheckoutSession.objects.select_related("order", "org", "recovered_from").get(
        public_id=recovery_session_public_id
    )
    send_id = context.task_result.id
    # Run again after its worker died: not sent twice if its outcome is on the timeline.
    done = TimelineEvent.objects.filter(
        session=session.recovered_from or session,
        kind__in=[EventKind.RECOVERY_SENT, EventKind.RECOVERY_FAILED],
        data__send=send_id,
    ).first()
    if done is not None:
        return done.kind
    if not session.customer_email:
        # Erased since the recovery (checkout.erasure): there is nobody to send it to.
        return "no email"
    return send_recovery_email(
        session=session, actor=Actor.from_task_argument(actor), send_id=send_id
    ).kind


@dataclass(frozen=True)
class RecoveryEmail:
    """A recovery email we sent (or are sending) for a session."""

    sent_at: datetime
    sent_by: str  # the merchant user's name, as the timeline shows it
    recovery_session_id: str

    @property
    def next_allowed_at(self) -> datetime:
        return self.sent_at + RECOVERY_EMAIL_INTERVAL


@dataclass(frozen=True)
class RecoveryStatus:
    """What the Recover sale action says about a session: the last recovery email and a
    recovery the customer already paid."""

    last_email: RecoveryEmail | None
    paid_recovery: CheckoutSession | None

    def can_email_at(self, now: datetime) -> bool:
        return self.last_email is None or now >= self.last_email.next_allowed_at


def last_recovery_email(session: CheckoutSession) -> RecoveryEmail | None:
    """The last recovery email asked for on ``session`` that did not fail (one query).

    It counts from the request (``recovered_by`` with ``emailed``), recorded in the same
    transaction as the new session under the session's row lock: two merchants clicking at
    once cannot both send. A send that failed (``recovery_failed``) does not count.
    """
    events = session.events.filter(
        kind__in=[EventKind.RECOVERED_BY, EventKind.RECOVERY_FAILED]
    ).order_by("-created_at", "-id")
    failed: set[str] = set()
    for event in events:
        recovery_id = event.data.get("recovery_session", "")
        if event.kind == EventKind.RECOVERY_FAILED:
            failed.add(recovery_id)
        elif event.data.get("emailed") and recovery_id not in failed:
            return RecoveryEmail(
                sent_at=event.created_at,
                sent_by=event.actor_label,
                recovery_session_id=recovery_id,
            )
    return None


def paid_recovery(session: CheckoutSession) -> CheckoutSession | None:
    """A recovery of ``session`` the customer paid, if any (the recovered_from index)."""
    return (
        CheckoutSession.objects.filter(recovered_from=session, is_paid=True)
        .select_related("order")
        .order_by("created_at")
        .first()
    )


def recovery_status(session: CheckoutSession) -> RecoveryStatus:
    """The last recovery email of ``session`` (when, by whom) and whether its customer already
    paid a recovery: two queries, whatever the session's history."""
    return RecoveryStatus(
        last_email=last_recovery_email(session), paid_recovery=paid_recovery(session)
    )
