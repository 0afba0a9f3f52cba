"""At least once: a task whose worker died is run again (checkout.task_recovery), and running
it again never repeats what it had done (a callback, a receipt, an expiry)."""

import signal
from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from checkout import callbacks as callbacks_module
from checkout.callbacks import deliver_callback, enqueue_session_callback
from checkout.checks import check_task_stale_after
from checkout.choices import CallbackEvent, EventKind
from checkout.models import CallbackDelivery
from checkout.processors import CardDetails
from checkout.request_context import CustomerContext
from checkout.services import pay_checkout_session, save_customer_details
from checkout.task_recovery import requeue_lost_deliveries, requeue_stale_tasks
from tests.checkout.callback_receiver import CallbackReceiver
from tests.factories import make_session
from tests.processes import started, wait_for

DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
VISA = CardDetails(number="4242424242424242", exp_month=12, exp_year=2099, cvc="123")
DELIVER = "checkout.callbacks.deliver_callback"
RECEIPT = "checkout.receipts.send_receipt_task"
EXPIRE = "checkout.expiry.expire_session"


def run_worker():
    call_command(
        "db_worker", batch=True, reload=False, startup_delay=False, interval=0, verbosity=0
    )


def enqueue_callback(session):
    with transaction.atomic():
        return enqueue_session_callback(session=session, event_type=CallbackEvent.COMPLETED)


def tasks(task_path, **filters):
    return DBTaskResult.objects.filter(task_path=task_path, **filters)


def left_running(tasks):
    """As a worker killed in the middle of them leaves tasks: RUNNING, never finished."""
    return tasks.update(
        status="RUNNING",
        started_at=timezone.now() - timedelta(hours=1),
        worker_ids=["killed-worker"],
    )


def delivery_events(session):
    return list(
        session.events.filter(
            kind__in=[EventKind.CALLBACK_DELIVERED, EventKind.CALLBACK_FAILED]
        ).values_list("kind", flat=True)
    )


# --- A real worker process, killed -----------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_callback_whose_worker_was_killed_is_delivered_after_a_restart(
    org, settings, start_worker
):
    settings.TASKS = DATABASE_TASKS
    # The first request hangs until the worker sending it is killed; the next one is answered.
    with CallbackReceiver(delays=[60]) as receiver:
        session = make_session(org=org, callback_url=receiver.url)
        delivery = enqueue_callback(session)

        killed = start_worker(TASK_STALE_AFTER_SECONDS="2")
        wait_for(lambda: receiver.received, timeout=20, what="the first delivery attempt")
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=10)
        delivery.refresh_from_db()
        assert delivery.status == CallbackDelivery.Status.PENDING

        start_worker(TASK_STALE_AFTER_SECONDS="2")

        def delivered():
            delivery.refresh_from_db()
            return delivery.status == CallbackDelivery.Status.DELIVERED

        wait_for(delivered, timeout=30, what="the delivery after the restart")

    assert len(receiver.received) == 2
    assert {callback.headers["webhook-id"] for callback in receiver.received} == {
        delivery.public_id
    }
    assert delivery.attempts == 1
    assert delivery_events(session) == [EventKind.CALLBACK_DELIVERED]
    task = tasks(DELIVER).get()
    assert task.status == "SUCCESSFUL"
    assert len(task.worker_ids) == 2  # the killed worker, then the one that finished it


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_running_worker_takes_over_the_callback_of_a_killed_one(org, settings, start_worker):
    settings.TASKS = DATABASE_TASKS
    with CallbackReceiver(delays=[60]) as receiver:
        workers = {
            name: start_worker(f"--worker-id={name}", TASK_STALE_AFTER_SECONDS="2")
            for name in ("first", "second")
        }
        for worker in workers.values():
            wait_for(lambda worker=worker: started(worker), timeout=30, what="a worker to start")
        # Queued only now: no recovery at startup can see it, the periodic one must.
        session = make_session(org=org, callback_url=receiver.url)
        delivery = enqueue_callback(session)
        wait_for(lambda: receiver.received, timeout=20, what="the first delivery attempt")
        [killed_name] = tasks(DELIVER).get().worker_ids
        workers[killed_name].send_signal(signal.SIGKILL)

        def delivered():
            delivery.refresh_from_db()
            return delivery.status == CallbackDelivery.Status.DELIVERED

        wait_for(delivered, timeout=30, what="the other worker to deliver it")

    assert len(receiver.received) == 2
    assert {callback.headers["webhook-id"] for callback in receiver.received} == {
        delivery.public_id
    }
    assert delivery_events(session) == [EventKind.CALLBACK_DELIVERED]
    survivor = ({"first", "second"} - {killed_name}).pop()
    assert tasks(DELIVER).get().worker_ids == [killed_name, survivor]


# --- Running a task again repeats nothing it had done ----------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_delivered_callback_whose_task_was_left_running_is_not_sent_again(org, settings):
    settings.TASKS = DATABASE_TASKS
    with CallbackReceiver() as receiver:
        session = make_session(org=org, callback_url=receiver.url)
        delivery = enqueue_callback(session)
        run_worker()
        # The worker died after recording the delivery, before marking its task finished.
        left_running(tasks(DELIVER))

        run_worker()

    assert len(receiver.received) == 1
    delivery.refresh_from_db()
    assert delivery.status == CallbackDelivery.Status.DELIVERED
    assert delivery_events(session) == [EventKind.CALLBACK_DELIVERED]
    task = tasks(DELIVER).get()
    assert (task.status, task.return_value) == ("SUCCESSFUL", "skipped")  # it did run again


@pytest.mark.django_db(transaction=True)
def test_a_failed_attempt_whose_task_was_left_running_is_not_made_again_before_its_retry(
    org, settings
):
    settings.TASKS = DATABASE_TASKS
    settings.CALLBACK_RETRY_SCHEDULE = [3600]
    with CallbackReceiver(statuses=[503]) as receiver:
        session = make_session(org=org, callback_url=receiver.url)
        delivery = enqueue_callback(session)
        run_worker()
        # The worker died after recording attempt 1 and queueing its retry (in an hour).
        assert left_running(tasks(DELIVER, status="SUCCESSFUL")) == 1

        run_worker()

    assert len(receiver.received) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (CallbackDelivery.Status.PENDING, 1)
    assert delivery_events(session) == [EventKind.CALLBACK_FAILED]
    outcomes = sorted(tasks(DELIVER).values_list("status", "return_value"))
    assert outcomes == [("READY", None), ("SUCCESSFUL", "not due")]  # the retry waits its hour


def pay_with_queued_receipt(org):
    session = make_session(org=org)
    session = save_customer_details(
        session=session,
        details={"customer_email": "jenny.rosen@example.com"},
        context=CustomerContext(),
    )
    pay_checkout_session(session=session, card=VISA, context=CustomerContext())
    return session


@pytest.mark.django_db(transaction=True)
def test_a_receipt_task_run_again_after_its_worker_died_sends_no_second_receipt(org, settings):
    settings.TASKS = DATABASE_TASKS
    session = pay_with_queued_receipt(org)
    run_worker()
    # The worker died after recording receipt_sent, before marking its task finished.
    left_running(tasks(RECEIPT))

    run_worker()

    assert len(mail.outbox) == 1
    assert session.events.filter(kind=EventKind.RECEIPT_SENT).count() == 1
    task = tasks(RECEIPT).get()
    assert (task.status, len(task.worker_ids)) == ("SUCCESSFUL", 2)


@pytest.mark.django_db(transaction=True)
def test_a_receipt_task_whose_worker_died_before_sending_sends_the_receipt(org, settings):
    settings.TASKS = DATABASE_TASKS
    session = pay_with_queued_receipt(org)
    left_running(tasks(RECEIPT))

    run_worker()

    assert len(mail.outbox) == 1
    assert session.events.filter(kind=EventKind.RECEIPT_SENT).count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_expiry_task_run_again_after_its_worker_died_is_announced_once(org, settings):
    settings.TASKS = DATABASE_TASKS
    with CallbackReceiver() as receiver:
        session = make_session(
            org=org, callback_url=receiver.url, created_at=timezone.now() - timedelta(minutes=61)
        )
        run_worker()
        left_running(tasks(EXPIRE))

        run_worker()

    assert session.events.filter(kind=EventKind.SESSION_EXPIRED).count() == 1
    assert CallbackDelivery.objects.filter(session=session).count() == 1
    assert len(receiver.received) == 1
    task = tasks(EXPIRE).get()
    assert (task.status, task.return_value) == ("SUCCESSFUL", "already expired")


# --- What recovery picks ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_only_tasks_running_longer_than_the_threshold_are_queued_again(org, settings):
    settings.TASKS = DATABASE_TASKS
    settings.TASK_STALE_AFTER_SECONDS = 60
    enqueue_callback(make_session(org=org, callback_url="http://127.0.0.1:9/lost"))
    enqueue_callback(make_session(org=org, callback_url="http://127.0.0.1:9/busy"))
    lost, busy = tasks(DELIVER).order_by("enqueued_at")
    DBTaskResult.objects.filter(pk=lost.pk).update(
        status="RUNNING", started_at=timezone.now() - timedelta(seconds=61), worker_ids=["w1"]
    )
    DBTaskResult.objects.filter(pk=busy.pk).update(
        status="RUNNING", started_at=timezone.now() - timedelta(seconds=30), worker_ids=["w2"]
    )

    assert requeue_stale_tasks() == 1
    assert requeue_stale_tasks() == 0

    lost.refresh_from_db()
    busy.refresh_from_db()
    assert (lost.status, lost.started_at, lost.worker_ids) == ("READY", None, ["w1"])
    assert busy.status == "RUNNING"


@pytest.mark.django_db(transaction=True)
def test_a_pending_delivery_that_lost_its_task_is_queued_again_once(org, settings):
    settings.TASKS = DATABASE_TASKS
    with CallbackReceiver() as receiver:
        session = make_session(org=org, callback_url=receiver.url)
        delivery = enqueue_callback(session)
        # Its enqueue failed (the row committed, the task did not), an hour ago.
        tasks(DELIVER).delete()
        CallbackDelivery.objects.filter(pk=delivery.pk).update(
            next_attempt_at=timezone.now() - timedelta(hours=1)
        )

        assert requeue_lost_deliveries() == 1
        assert requeue_lost_deliveries() == 0  # its task is queued now
        run_worker()

    assert [callback.headers["webhook-id"] for callback in receiver.received] == [
        delivery.public_id
    ]
    delivery.refresh_from_db()
    assert delivery.status == CallbackDelivery.Status.DELIVERED


def test_a_stale_threshold_shorter_than_a_task_timeout_is_warned_about(settings):
    settings.CALLBACK_TIMEOUT_SECONDS = 10
    settings.TASK_STALE_AFTER_SECONDS = 15

    [warning] = check_task_stale_after(None)

    assert warning.id == "checkout.W001"


@pytest.mark.django_db(transaction=True)
def test_an_attempt_another_run_recorded_meanwhile_is_not_recorded_twice(
    org, settings, monkeypatch
):
    # A task run again while its first worker, slow rather than dead, was still sending.
    settings.TASKS = DATABASE_TASKS
    session = make_session(org=org, callback_url="http://127.0.0.1:9/hooks")
    delivery = enqueue_callback(session)
    post_callback = callbacks_module.post_callback

    def the_other_run_finishes_first(delivery, *, secrets):
        outcome = post_callback(delivery, secrets=secrets)
        monkeypatch.setattr(callbacks_module, "post_callback", post_callback)
        assert deliver_callback.call(delivery.pk) == CallbackDelivery.Status.PENDING
        return outcome

    monkeypatch.setattr(callbacks_module, "post_callback", the_other_run_finishes_first)

    assert deliver_callback.call(delivery.pk) == "superseded"

    delivery.refresh_from_db()
    assert delivery.attempts == 1
    assert delivery_events(session) == [EventKind.CALLBACK_FAILED]
