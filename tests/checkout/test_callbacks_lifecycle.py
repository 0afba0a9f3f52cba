"""Callbacks from the session's life: payment outcomes (which a merchant's broken endpoint
never affects) and the expiry task scheduled for expires_at."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from standardwebhooks import Webhook

from checkout.actors import Actor
from checkout.choices import EventKind, PaymentStatus
from checkout.expiry import expire_session
from checkout.models import CallbackDelivery
from checkout.processors import CardDetails
from checkout.request_context import CustomerContext
from checkout.services import (
    PaymentOutcomeKind,
    extend_session_expiry,
    pay_checkout_session,
    save_customer_details,
)
from tests.checkout.callback_receiver import CallbackReceiver, unused_local_url
from tests.factories import make_session, signing_secret

DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
VISA = CardDetails(number="4242424242424242", exp_month=12, exp_year=2099, cvc="123")
DECLINED = CardDetails(number="4000000000000002", exp_month=12, exp_year=2099, cvc="123")


def run_worker():
    call_command(
        "db_worker", batch=True, reload=False, startup_delay=False, interval=0, verbosity=0
    )


def ready_to_pay(session):
    return save_customer_details(
        session=session,
        details={"customer_email": "jenny.rosen@example.com"},
        context=CustomerContext(),
    )


def expiry_tasks():
    return DBTaskResult.objects.filter(task_path="checkout.expiry.expire_session", status="READY")


@pytest.mark.django_db(transaction=True)
def test_unreachable_callback_url_never_affects_the_payment(org):
    org.callback_url = unused_local_url()
    org.save()
    session = ready_to_pay(make_session(org=org))

    outcome = pay_checkout_session(session=session, card=VISA, context=CustomerContext())

    assert outcome.kind == PaymentOutcomeKind.SUCCEEDED
    session.order.refresh_from_db()
    assert session.order.payment_status == PaymentStatus.PAID
    delivery = CallbackDelivery.objects.get(session=session)
    assert delivery.event_type == "checkout.session.completed"
    failed = session.events.get(kind=EventKind.CALLBACK_FAILED)
    assert failed.data["status_code"] is None
    assert failed.data["error"]


@pytest.mark.django_db(transaction=True)
def test_paying_sends_a_signed_completed_callback(org):
    with CallbackReceiver() as receiver:
        session = ready_to_pay(make_session(org=org, callback_url=receiver.url))
        pay_checkout_session(session=session, card=VISA, context=CustomerContext())

    payload = Webhook(signing_secret(org)).verify(
        receiver.received[0].body, receiver.received[0].headers
    )
    assert payload["type"] == "checkout.session.completed"
    assert payload["data"]["status"] == "succeeded"
    assert payload["data"]["order"]["paymentStatus"] == "paid"


@pytest.mark.django_db(transaction=True)
def test_a_decline_sends_a_payment_failed_callback(org):
    with CallbackReceiver() as receiver:
        session = ready_to_pay(make_session(org=org, callback_url=receiver.url))
        pay_checkout_session(session=session, card=DECLINED, context=CustomerContext())

    payload = Webhook(signing_secret(org)).verify(
        receiver.received[0].body, receiver.received[0].headers
    )
    assert payload["type"] == "checkout.session.payment_failed"
    assert payload["data"]["status"] == "failed"
    assert payload["data"]["failedAttempts"] == 1


@pytest.mark.django_db(transaction=True)
def test_creating_a_session_schedules_its_expiry_task(org, settings):
    settings.TASKS = DATABASE_TASKS

    session = make_session(org=org)

    task = expiry_tasks().get()
    assert task.run_after == session.expires_at
    assert task.args_kwargs["args"] == [session.pk]


@pytest.mark.django_db(transaction=True)
def test_expiry_task_records_the_expiry_and_calls_back(org, settings):
    settings.TASKS = DATABASE_TASKS
    with CallbackReceiver() as receiver:
        session = make_session(
            org=org,
            callback_url=receiver.url,
            created_at=timezone.now() - timedelta(minutes=61),
        )
        run_worker()

    assert session.events.filter(kind=EventKind.SESSION_EXPIRED).count() == 1
    payload = Webhook(signing_secret(org)).verify(
        receiver.received[0].body, receiver.received[0].headers
    )
    assert payload["type"] == "checkout.session.expired"
    assert payload["data"]["status"] == "expired"
    assert payload["data"]["active"] is False


@pytest.mark.django_db(transaction=True)
def test_a_declined_session_that_runs_out_of_time_is_announced_as_expired(org, settings):
    # Like Stripe: the event says the checkout can no longer be paid; its status stays failed.
    settings.TASKS = DATABASE_TASKS
    with CallbackReceiver() as receiver:
        session = ready_to_pay(make_session(org=org, callback_url=receiver.url))
        pay_checkout_session(session=session, card=DECLINED, context=CustomerContext())
        now = timezone.now()
        type(session).objects.filter(pk=session.pk).update(
            created_at=now - timedelta(hours=2), expires_at=now - timedelta(seconds=1)
        )
        DBTaskResult.objects.filter(task_path="checkout.expiry.expire_session").update(
            run_after=timezone.now() - timedelta(seconds=1)
        )
        run_worker()

    types = [
        Webhook(signing_secret(org)).verify(call.body, call.headers)["type"]
        for call in receiver.received
    ]
    expired = Webhook(signing_secret(org)).verify(
        receiver.received[-1].body, receiver.received[-1].headers
    )
    assert types == ["checkout.session.payment_failed", "checkout.session.expired"]
    assert (expired["data"]["status"], expired["data"]["active"]) == ("failed", False)
    assert expired["data"]["failedAttempts"] == 1


@pytest.mark.django_db(transaction=True)
def test_expiry_task_does_nothing_for_a_paid_session(org, settings):
    settings.TASKS = DATABASE_TASKS
    with CallbackReceiver() as receiver:
        session = make_session(
            org=org,
            callback_url=receiver.url,
            paid=True,
            created_at=timezone.now() - timedelta(minutes=61),
        )
        run_worker()

    assert receiver.received == []
    assert not session.events.filter(kind=EventKind.SESSION_EXPIRED).exists()


@pytest.mark.django_db(transaction=True)
def test_expiry_task_reschedules_itself_when_the_session_was_extended(org, settings):
    settings.TASKS = DATABASE_TASKS
    session = make_session(org=org)
    extend_session_expiry(session=session, minutes=30, actor=Actor.system())
    session.refresh_from_db()
    # The extension schedules a task of its own: without it, only the old task, now running,
    # can make sure the new deadline is looked at.
    expiry_tasks().delete()

    assert expire_session.call(session.pk) == "rescheduled"

    assert not session.events.filter(kind=EventKind.SESSION_EXPIRED).exists()
    assert list(expiry_tasks().values_list("run_after", flat=True)) == [session.expires_at]


@pytest.mark.django_db(transaction=True)
def test_expiry_is_announced_once_even_if_the_task_runs_twice(org, settings):
    settings.TASKS = DATABASE_TASKS
    with CallbackReceiver() as receiver:
        session = make_session(
            org=org,
            callback_url=receiver.url,
            created_at=timezone.now() - timedelta(minutes=61),
        )
        expire_session.enqueue(session.pk)
        run_worker()

    assert session.events.filter(kind=EventKind.SESSION_EXPIRED).count() == 1
    assert len(receiver.received) == 1


def test_immediate_backend_schedules_no_expiry_task(
    org, caplog, django_capture_on_commit_callbacks
):
    # The immediate backend cannot wait until expires_at: a task given to it would be refused
    # (logged as an error after every commit) or, run at once, would find the session open.
    with django_capture_on_commit_callbacks(execute=True) as committed:
        session = make_session(org=org)

    assert committed, "the session's on-commit work never ran"
    assert [record.getMessage() for record in caplog.records if record.levelname == "ERROR"] == []
    assert not DBTaskResult.objects.exists()
    assert not session.events.filter(kind=EventKind.SESSION_EXPIRED).exists()
