"""The session detail's other actions, as services: Resend receipt (a paid session's receipt
again, through the task queue, the timeline naming the merchant user who asked) and the portal
link a merchant copies for the customer (all their purchases)."""

from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core import mail

from checkout.actors import Actor
from checkout.choices import ActorKind, EventKind
from checkout.models import Order, TimelineEvent
from checkout.portal import PortalScope, PortalUnavailable, customer_portal_url, read_portal_token
from checkout.receipts import send_receipt_task
from checkout.services import ReceiptUnavailable, resend_receipt
from tests.factories import UserFactory, make_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def merchant():
    return UserFactory(username="jenny")


def receipt_events(session) -> list[TimelineEvent]:
    kinds = [EventKind.RECEIPT_SENT, EventKind.RECEIPT_FAILED]
    return list(TimelineEvent.objects.filter(session=session, kind__in=kinds))


def test_resend_receipt_emails_it_again_and_the_timeline_names_who_asked(
    merchant, django_capture_on_commit_callbacks
):
    session = make_session(paid=True, customer_email="alice@example.com")

    with django_capture_on_commit_callbacks(execute=True) as enqueued:
        resend_receipt(session=session, actor=Actor.for_user(merchant))

    assert len(enqueued) == 1  # through the task queue, once the request commits
    [message] = mail.outbox
    assert message.to == ["alice@example.com"]
    assert "Your receipt from" in message.subject
    [event] = receipt_events(session)
    assert event.kind == EventKind.RECEIPT_SENT
    assert (event.actor_kind, event.actor_label, event.actor_user) == (
        ActorKind.USER,
        "jenny",
        merchant,
    )


def test_resend_receipt_sends_nothing_until_the_request_commits(merchant):
    session = make_session(paid=True)

    resend_receipt(session=session, actor=Actor.for_user(merchant))

    assert mail.outbox == []  # the test's transaction never commits
    assert receipt_events(session) == []


def test_a_failed_resend_names_who_asked_too(merchant, django_capture_on_commit_callbacks):
    session = make_session(paid=True)
    Order.objects.filter(pk=session.order.pk).update(customer_email="a@" + "é" * 60 + ".com")
    session.order.refresh_from_db()

    with django_capture_on_commit_callbacks(execute=True):
        resend_receipt(session=session, actor=Actor.for_user(merchant))

    [event] = receipt_events(session)
    assert event.kind == EventKind.RECEIPT_FAILED
    assert event.actor_user == merchant


def test_resend_receipt_of_an_unpaid_session_is_refused(merchant):
    session = make_session(failed_attempts=1)

    with pytest.raises(ReceiptUnavailable, match="not paid"):
        resend_receipt(session=session, actor=Actor.for_user(merchant))

    assert mail.outbox == []


def test_receipt_sent_after_a_payment_is_still_the_systems():
    session = make_session(paid=True)

    send_receipt_task.enqueue(session.public_id)

    [event] = receipt_events(session)
    assert (event.actor_kind, event.actor_user) == (ActorKind.SYSTEM, None)


def test_receipt_task_names_a_merchant_deleted_meanwhile_by_their_name(merchant):
    session = make_session(paid=True)
    actor = Actor.for_user(merchant).as_task_argument()
    merchant.delete()

    send_receipt_task.enqueue(session.public_id, actor)

    [event] = receipt_events(session)
    assert (event.actor_kind, event.actor_label, event.actor_user) == (
        ActorKind.USER,
        "jenny",
        None,
    )


def test_customer_portal_url_opens_all_the_customers_purchases():
    session = make_session(paid=True, customer_email="alice@example.com")

    url = customer_portal_url(session)

    assert url.startswith(settings.SITE_URL + "/portal/")
    access = read_portal_token(urlsplit(url).path.removeprefix("/portal/").strip("/"))
    assert access.scope == PortalScope.CUSTOMER
    assert access.email == "alice@example.com"
    assert access.order_public_id == session.order.public_id


def test_customer_portal_url_of_an_unpaid_session_is_refused():
    session = make_session(failed_attempts=1)

    with pytest.raises(PortalUnavailable, match="not paid"):
        customer_portal_url(session)


def test_customer_portal_url_of_an_order_without_email_is_refused():
    session = make_session(paid=True, customer_email="")

    with pytest.raises(PortalUnavailable, match="no customer email"):
        customer_portal_url(session)
