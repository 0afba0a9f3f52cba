"""Receipt emails (HTML + text) for paid orders, sent through Django's email backend, and the
background task that sends one after a payment commits.

Sending never raises, into a payment or out of the task: every failure (a refused or unreachable
mail server, an address or a header the mail library refuses, a bug) is recorded on the
session's timeline as ``receipt_failed`` with its error, and the merchant can resend from the
dashboard.
"""

import logging
import smtplib

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.tasks import TaskContext, task
from django.template.loader import render_to_string

from checkout.actors import Actor
from checkout.choices import EventKind
from checkout.effective_settings import effective_settings
from checkout.models import CheckoutSession, TimelineEvent
from checkout.portal import PortalScope, portal_path, portal_url
from checkout.timeline import record_event

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
    *, session: CheckoutSession, actor: Actor, send_id: str | None = None
) -> TimelineEvent:
    """Email the receipt; record ``receipt_sent``, or ``receipt_failed`` with the error.

    ``send_id`` names this send on the event (the task's id), so that running the task again
    can tell that it was done.
    """
    order = session.order
    this_send = {"send": send_id} if send_id else {}
    if not order.is_paid or not order.customer_email:
        raise ValueError(f"Order {order.public_id} has no receipt to send (unpaid or no email).")
    try:
        receipt_message(session).send()
    except (smtplib.SMTPException, OSError, ValueError) as error:
        # ValueError: the mail library refuses the message before sending it, e.g. a domain
        # that fails IDNA (UnicodeError; stored before addresses were canonicalized) or a CR/LF
        # in a header (an org name saved before its validator): header injection is refused.
        logger.warning("Receipt for %s not sent: %s", session.public_id, error)
        return _record_receipt_failed(session=session, actor=actor, error=error, **this_send)
    except Exception as error:  # noqa: BLE001 - recorded below, and logged with its traceback
        # Anything else (a template bug, a backend raising something new) must still reach the
        # timeline: a receipt that vanishes without a trace is the failure we guard against.
        logger.exception("Receipt for %s failed unexpectedly", session.public_id)
        return _record_receipt_failed(session=session, actor=actor, error=error, **this_send)
    return record_event(
        session=session,
        kind=EventKind.RECEIPT_SENT,
        actor=actor,
        data={"to": order.customer_email, **this_send},
    )


def _record_receipt_failed(
    *, session: CheckoutSession, actor: Actor, error: Exception, **this_send: str
) -> TimelineEvent:
    return record_event(
        session=session,
        kind=EventKind.RECEIPT_FAILED,
        actor=actor,
        data={
            "to": session.order.customer_email,
            "error": f"{type(error).__name__}: {error}"[:300],
            **this_send,
        },
    )


@task(takes_context=True)
def send_receipt_task(
    context: TaskContext, session_public_id: str, actor: dict | None = None
) -> str:
    """Send a paid session's receipt in the background: enqueued when the payment commits (the
    system sends it) or by ``resend_receipt`` (``actor``, from ``Actor.as_task_argument``: the
    merchant user who asked, named on ``receipt_sent``)."""
    session = CheckoutSession.objects.select_related("order", "org").get(
        public_id=session_public_id
    )
    send_id = context.task_result.id
    # Run again after its worker died (checkout.task_recovery): the outcome of this send is on
    # the timeline if it was sent (or failed) before the worker died, so not sent twice. Between
    # the email leaving and the event committing, a death still means a second email.
    done = session.events.filter(
        kind__in=[EventKind.RECEIPT_SENT, EventKind.RECEIPT_FAILED], data__send=send_id
    ).first()
    if done is not None:
        return done.kind
    return send_receipt(
        session=session, actor=Actor.from_task_argument(actor), send_id=send_id
    ).kind
