"""Receipt emails (HTML + text) for paid orders, sent through Django's email backend, and the
background task that sends one after a payment commits.

Sending never raises, into a payment or out of the task: every failure (a refused or unreachable
mail server, an address or a header the mail library refuses, a bug) is recorded on the
session's timeline as ``receipt_failed`` with its error and attempt number, and the merchant can
resend from the dashboard.

A failure that may pass (the mail server down, hanging up, or answering 4xx "try again later")
is tried again by the task itself, as callbacks are: on the database task backend the next
attempt is queued with ``run_after``, ``RECEIPT_RETRY_SCHEDULE[n]`` seconds later, in the
transaction that records the failed one. The last failed attempt says ``final``, as does a
failure that waiting cannot fix (a 5xx refusal, a message the mail library refuses, a bug).
The ``immediate`` backend (tests) cannot defer: one attempt, which the event says. That part
is ``checkout.mail_retries``, which recovery emails share.
"""

import logging
import smtplib
from datetime import datetime
from functools import partial

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.tasks import TaskContext, task
from django.template.loader import render_to_string

from checkout.actors import Actor
from checkout.choices import EventKind
from checkout.effective_settings import effective_settings
from checkout.erasure import record_email_to_customer
from checkout.mail_retries import record_failed_send
from checkout.models import CheckoutSession, TimelineEvent
from checkout.portal import PortalScope, portal_path, portal_url

logger = logging.getLogger(__name__)


def receipt_context(session: CheckoutSession) -> dict:
    """What a receipt page or email shows (the order, formatted by ``checkout_display``), and a
    link to this order's receipt (never to the customer's other orders: see checkout.portal)."""
    return {
        "session": session,
        "order": session.order,
        "org": session.org,
        "effective": effective_settings(session),
        "receipt_link": portal_path(session.order, scope=PortalScope.ORDER),
    }


def receipt_message(session: CheckoutSession) -> EmailMultiAlternatives:
    """The receipt email for a paid session's order, with the link to all the customer's orders.

    Only the email carries a ``customer`` portal link: opening it proves access to the mailbox.
    """
    context = {
        **receipt_context(session),
        "portal_url": portal_url(session.order, scope=PortalScope.CUSTOMER),
    }
    order, org = session.order, session.org
    # A test payment's receipt says so from the inbox on: nothing was charged for real.
    test_mode = "[Test mode] " if order.is_test_mode else ""
    message = EmailMultiAlternatives(
        subject=f"{test_mode}Your receipt from {org.name} [#{order.number}]",
        body=render_to_string("checkout/email/receipt.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[order.customer_email],
        reply_to=[org.support_email] if org.support_email else None,
    )
    message.attach_alternative(
        render_to_string("checkout/email/receipt.html", context), "text/html"
    )
    return message


def send_receipt(
    *,
    session: CheckoutSession,
    actor: Actor,
    send_id: str | None = None,
    attempt: int = 1,
) -> TimelineEvent:
    """Email the receipt; record ``receipt_sent``, or ``receipt_failed`` with the error and,
    when trying again may help, queue the next attempt (see the module docstring).

    ``send_id`` names this send on the event (the task's id), so that running the task again
    can tell that it was done; ``attempt`` counts the tries of one receipt, from 1.
    """
    order = session.order
    if not order.is_paid or not order.customer_email:
        raise ValueError(f"Order {order.public_id} has no receipt to send (unpaid or no email).")
    try:
        receipt_message(session).send()
    except (smtplib.SMTPException, OSError, ValueError) as error:
        # ValueError: the mail library refuses the message before sending it, e.g. a domain
        # that fails IDNA (UnicodeError; stored before addresses were canonicalized) or a CR/LF
        # in a header (an org name saved before its validator): header injection is refused.
        logger.warning(
            "Receipt for %s not sent (attempt %d): %s", session.public_id, attempt, error
        )
        return _record_receipt_failed(
            session=session, actor=actor, error=error, send_id=send_id, attempt=attempt
        )
    except Exception as error:  # noqa: BLE001 - recorded below, and logged with its traceback
        # Anything else (a template bug, a backend raising something new) must still reach the
        # timeline: a receipt that vanishes without a trace is the failure we guard against.
        logger.exception("Receipt for %s failed unexpectedly", session.public_id)
        return _record_receipt_failed(
            session=session, actor=actor, error=error, send_id=send_id, attempt=attempt
        )
    return record_email_to_customer(
        session=session,
        kind=EventKind.RECEIPT_SENT,
        actor=actor,
        to=order.customer_email,
        data={"to": order.customer_email, "attempt": attempt, **_this_send(send_id)},
    )


def _this_send(send_id: str | None) -> dict[str, str]:
    return {"send": send_id} if send_id else {}


def _record_receipt_failed(
    *,
    session: CheckoutSession,
    actor: Actor,
    error: Exception,
    send_id: str | None,
    attempt: int,
) -> TimelineEvent:
    to = session.order.customer_email
    return record_failed_send(
        session=session,
        kind=EventKind.RECEIPT_FAILED,
        actor=actor,
        to=to,
        error=error,
        attempt=attempt,
        data={"to": to, **_this_send(send_id)},
        schedule=settings.RECEIPT_RETRY_SCHEDULE,
        enqueue_next=partial(enqueue_receipt, session.public_id, actor=actor, attempt=attempt + 1),
    )


def enqueue_receipt(
    session_public_id: str,
    *,
    actor: Actor,
    attempt: int,
    run_after: datetime | None = None,
) -> None:
    """Queue attempt ``attempt`` of a receipt, at ``run_after`` (the backend must defer)."""
    receipt_task = send_receipt_task.using(run_after=run_after) if run_after else send_receipt_task
    receipt_task.enqueue(session_public_id, actor.as_task_argument(), attempt)


@task(takes_context=True)
def send_receipt_task(
    context: TaskContext, session_public_id: str, actor: dict | None = None, attempt: int = 1
) -> str:
    """Send a paid session's receipt in the background: enqueued when the payment commits (the
    system sends it), by ``resend_receipt`` (``actor``, from ``Actor.as_task_argument``: the
    merchant user who asked, named on ``receipt_sent``), or by a failed ``attempt`` before."""
    session = CheckoutSession.objects.select_related("order", "org").get(
        public_id=session_public_id
    )
    send_id = context.task_result.id
    # Run again after its worker died (checkout.task_recovery): the outcome of this send is on
    # the timeline if it was sent (or failed, its retry queued with it) before the worker died,
    # so not sent twice. Between the email leaving and the event committing, a death still
    # means a second email.
    done = session.events.filter(
        kind__in=[EventKind.RECEIPT_SENT, EventKind.RECEIPT_FAILED], data__send=send_id
    ).first()
    if done is not None:
        return done.kind
    if not session.order.customer_email:
        # Erased since the payment (checkout.erasure): there is nobody to send it to.
        return "no email"
    return send_receipt(
        session=session,
        actor=Actor.from_task_argument(actor),
        send_id=send_id,
        attempt=attempt,
    ).kind
