"""Recovering a sale: the email offering a customer a fresh checkout link for the same items, the
task that sends it, the ``mailto:`` alternative for merchants who write from their own mail
client, and what a session's recoveries so far say (the last email, a recovery already paid).

The service that creates the recovery session is ``checkout.services.recover_session``. Events:
the old session records ``recovered_by`` (naming the new session, who asked, and whether we email
the customer); the task then records ``recovery_sent`` or ``recovery_failed`` on it. The new
session's ``session_created`` names the old one (``recovered_from``): linked both ways.

A send the mail server could not take for now is tried again as a receipt is
(``checkout.mail_retries``, on ``RECEIPT_RETRY_SCHEDULE``), but never once the link has expired:
each failed attempt is a ``recovery_failed`` with ``attempt``, ``next_attempt_at`` and ``final``.
While one is to be tried again it counts against the one email a day; a final one does not.
"""

import logging
import smtplib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from urllib.parse import quote

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.tasks import TaskContext, task
from django.template.loader import render_to_string
from django.utils.dateparse import parse_datetime

from checkout.actors import Actor
from checkout.choices import EventKind, RecoveryNotSent
from checkout.effective_settings import effective_settings
from checkout.erasure import record_email_to_customer
from checkout.mail_retries import RetryDeadline, record_failed_send
from checkout.models import CheckoutSession, TimelineEvent
from checkout.money import format_money
from checkout.session_json import session_url

logger = logging.getLogger(__name__)

# At most one recovery email per session in this window: a merchant's reminder, not spam.
RECOVERY_EMAIL_INTERVAL = timedelta(hours=24)
# On a failed attempt not tried again because its link expires before the next try would come.
LINK_EXPIRES_FIRST = "none: the link expires before the next try"


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
    *, session: CheckoutSession, actor: Actor, send_id: str | None = None, attempt: int = 1
) -> TimelineEvent:
    """Email the recovery ``session``'s link to its customer; record ``recovery_sent``, or
    ``recovery_failed`` with the error and, when trying again may help before the link
    expires, queue the next attempt (``checkout.mail_retries``, as ``send_receipt`` does), on
    the session it recovers. A link that was paid, whose sale another recovery made, or that
    expired is not sent: ``recovery_failed`` says why (``not_sent``), final.

    ``send_id`` names this send on the event (the task's id); ``attempt`` counts the tries of
    one recovery email, from 1.
    """
    recovered = session.recovered_from or session
    to = session.customer_email
    data = {
        "to": to,
        "recovery_session": session.public_id,
        **({"send": send_id} if send_id else {}),
    }
    if (not_sent := _why_not_send(session, recovered)) is not None:
        logger.info("Recovery email for %s not sent: %s", session.public_id, not_sent.label)
        return record_email_to_customer(
            session=recovered,
            kind=EventKind.RECOVERY_FAILED,
            actor=actor,
            to=to,
            data={
                **data,
                "not_sent": not_sent.value,
                "attempt": attempt,
                "next_attempt_at": None,
                "final": True,
            },
        )
    try:
        recovery_message(session).send()
    except (smtplib.SMTPException, OSError, ValueError) as error:
        # ValueError: the mail library refuses a header (a CR/LF in an org name) or an address.
        logger.warning(
            "Recovery email for %s not sent (attempt %d): %s", session.public_id, attempt, error
        )
        return _record_failed(session, recovered, actor, error, data, attempt)
    except Exception as error:  # noqa: BLE001 - recorded below, and logged with its traceback
        logger.exception("Recovery email for %s failed unexpectedly", session.public_id)
        return _record_failed(session, recovered, actor, error, data, attempt)
    return record_email_to_customer(
        session=recovered,
        kind=EventKind.RECOVERY_SENT,
        actor=actor,
        to=to,
        data={**data, "attempt": attempt},
    )


def _why_not_send(session: CheckoutSession, recovered: CheckoutSession) -> RecoveryNotSent | None:
    # Checked before each attempt, a retry hours later included: a paid link must not invite a
    # second payment, nor a link to a sale paid through another recovery (the customer could
    # pay twice), and an expired link would only show the customer a dead page.
    if session.is_paid:
        return RecoveryNotSent.PAID
    if recovered != session and paid_recovery(recovered) is not None:
        return RecoveryNotSent.RECOVERED
    if not session.is_active:
        return RecoveryNotSent.EXPIRED
    return None


def _record_failed(
    session: CheckoutSession,
    recovered: CheckoutSession,
    actor: Actor,
    error: Exception,
    data: dict,
    attempt: int,
) -> TimelineEvent:
    return record_failed_send(
        session=recovered,
        kind=EventKind.RECOVERY_FAILED,
        actor=actor,
        to=data["to"],
        error=error,
        attempt=attempt,
        # Until when this email may still go out: the limit of one a day waits for it.
        data={**data, "link_expires_at": session.expires_at.isoformat()},
        # The receipts' schedule, cut at the link's expiry: a dead link is not worth mailing.
        schedule=settings.RECEIPT_RETRY_SCHEDULE,
        deadline=RetryDeadline(session.expires_at, LINK_EXPIRES_FIRST),
        enqueue_next=partial(
            enqueue_recovery_email, session.public_id, actor=actor, attempt=attempt + 1
        ),
    )


def enqueue_recovery_email(
    recovery_session_public_id: str,
    *,
    actor: Actor,
    attempt: int = 1,
    run_after: datetime | None = None,
) -> None:
    """Queue attempt ``attempt`` of a recovery email, at ``run_after`` (the backend must
    defer)."""
    email_task = (
        send_recovery_email_task.using(run_after=run_after)
        if run_after
        else send_recovery_email_task
    )
    email_task.enqueue(recovery_session_public_id, actor.as_task_argument(), attempt)


@task(takes_context=True)
def send_recovery_email_task(
    context: TaskContext,
    recovery_session_public_id: str,
    actor: dict | None = None,
    attempt: int = 1,
) -> str:
    """Send a recovery email in the background (enqueued by ``recover_session``, or by a failed
    ``attempt`` before); ``actor`` is the merchant user who asked (``Actor.as_task_argument``)."""
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
        session=session, actor=Actor.from_task_argument(actor), send_id=send_id, attempt=attempt
    ).kind


@dataclass(frozen=True)
class RecoveryEmail:
    """A recovery email we sent, or that is on its way, for a session."""

    sent_at: datetime  # when it went out; while on its way, when it was asked for
    sent_by: str  # the merchant user's name, as the timeline shows it
    recovery_session_id: str
    # Failed for now and to be tried again: when, and until when it may still go out (its
    # link's expiry). None once sent, or while its first attempt is queued.
    next_attempt_at: datetime | None = None
    retrying_until: datetime | None = None

    @property
    def retrying(self) -> bool:
        return self.retrying_until is not None

    @property
    def next_allowed_at(self) -> datetime:
        """A day after this one, and never while this one may still go out."""
        after_a_day = self.sent_at + RECOVERY_EMAIL_INTERVAL
        return max(after_a_day, self.retrying_until) if self.retrying_until else after_a_day


@dataclass(frozen=True)
class RecoveryStatus:
    """What the Recover sale action says about a session: the last recovery email and a
    recovery the customer already paid."""

    last_email: RecoveryEmail | None
    paid_recovery: CheckoutSession | None

    def can_email_at(self, now: datetime) -> bool:
        return self.last_email is None or now >= self.last_email.next_allowed_at


def last_recovery_email(session: CheckoutSession) -> RecoveryEmail | None:
    """The last recovery email asked for on ``session`` that did not fail for good (one query).

    It counts from the request (``recovered_by`` with ``emailed``), recorded in the same
    transaction as the new session under the session's row lock: two merchants clicking at
    once cannot both send; once it went out (``recovery_sent``, after retries maybe hours
    later), from then. A failed attempt to be tried again (``recovery_failed``, not ``final``)
    still counts: it may go out until its link expires. A ``final`` one does not count.
    """
    events = session.events.filter(
        kind__in=[EventKind.RECOVERED_BY, EventKind.RECOVERY_SENT, EventKind.RECOVERY_FAILED]
    ).order_by("-created_at", "-id")
    outcomes: dict[str, TimelineEvent] = {}  # the newest sent or failed, per recovery session
    for event in events:
        recovery_id = event.data.get("recovery_session", "")
        if event.kind != EventKind.RECOVERED_BY:
            outcomes.setdefault(recovery_id, event)
            continue
        if not event.data.get("emailed"):
            continue
        outcome = outcomes.get(recovery_id)
        asked_for = RecoveryEmail(
            sent_at=event.created_at, sent_by=event.actor_label, recovery_session_id=recovery_id
        )
        if outcome is None:
            return asked_for  # its first attempt is queued
        if outcome.kind == EventKind.RECOVERY_SENT:
            return replace(asked_for, sent_at=outcome.created_at)
        # Failed events recorded before retries existed have no ``final``: they were.
        if not outcome.data.get("final", True):
            return replace(
                asked_for,
                next_attempt_at=parse_datetime(outcome.data["next_attempt_at"]),
                retrying_until=parse_datetime(outcome.data["link_expires_at"]),
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
