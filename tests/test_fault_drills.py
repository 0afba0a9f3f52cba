"""Fault drills: the ordinary ways production fails, each against real processes on PostgreSQL
(a ``db_worker``, gunicorn with production settings, an SMTP server and HTTP receivers on
127.0.0.1), each showing what the customer and the merchant get.

- the mail server is down while a payment succeeds: the payment stands, the receipt is retried
  with backoff and sent once the server is back, every attempt on the timeline;
- the database connection drops in the middle of a request: our error page (HTML for pages,
  the API's JSON error on ``/v0/``), nothing half written, and the retry works;
- a callback receiver that never answers: the worker gives up at the timeout, schedules the
  retry, and goes on with the next task.

The drill "``db_worker`` killed (SIGKILL) mid-callback" is
``tests/checkout/test_task_recovery.py::test_a_callback_whose_worker_was_killed_is_delivered_after_a_restart``.
"""

import json
import socket
import threading
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils.dateparse import parse_datetime
from django_tasks_db.models import DBTaskResult

from bench.load import CREATE_BODY, Server, card_expiry, http_request, open_page, post_pay
from checkout.callbacks import enqueue_session_callback
from checkout.choices import CallbackEvent, EventKind
from checkout.models import (
    CallbackDelivery,
    CheckoutSession,
    IdempotencyRecord,
    Order,
    OrderCounter,
    OrderItem,
    TimelineEvent,
)
from checkout.processors import CardDetails
from checkout.request_context import CustomerContext
from checkout.services import PaymentOutcomeKind, pay_checkout_session
from orgs.services import create_api_key
from tests.checkout.callback_receiver import CallbackReceiver
from tests.factories import make_session, session_ready_to_pay
from tests.processes import production_server_env, wait_for
from tests.smtp_sink import SmtpSink, free_port

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
VISA = CardDetails(number="4242424242424242", exp_month=12, exp_year=2099, cvc="123")
RECEIPT = "checkout.receipts.send_receipt_task"
DELIVER = "checkout.callbacks.deliver_callback"


@pytest.fixture
def database_tasks(settings):
    settings.TASKS = DATABASE_TASKS


def events(session, *kinds: str) -> list[TimelineEvent]:
    return list(session.events.filter(kind__in=kinds).order_by("created_at", "pk"))


# --- The mail server is down while a payment succeeds ---------------------------------------

RECEIPT_RETRIES = [1, 2, 2, 2, 2, 2, 2, 2, 2, 2]
FAILED_WHILE_DOWN = 2


def test_a_payment_while_the_mail_server_is_down_stands_and_its_receipt_goes_out_when_it_is_back(
    org, database_tasks, start_worker
):
    smtp_port = free_port()  # nothing listens there yet: every connection is refused
    session = session_ready_to_pay(org=org, customer_email="jenny.rosen@example.com")

    outcome = pay_checkout_session(session=session, card=VISA, context=CustomerContext())
    start_worker(
        EMAIL_URL=f"smtp://127.0.0.1:{smtp_port}",
        RECEIPT_RETRY_SCHEDULE=",".join(map(str, RECEIPT_RETRIES)),
    )
    wait_for(
        lambda: len(events(session, EventKind.RECEIPT_FAILED)) >= FAILED_WHILE_DOWN,
        timeout=30,
        what="the receipt to fail while the mail server is down",
    )
    with SmtpSink(port=smtp_port) as mail_server:
        wait_for(
            lambda: events(session, EventKind.RECEIPT_SENT),
            timeout=30,
            what="the receipt once the mail server is back",
        )

    # The payment stands.
    assert outcome.kind == PaymentOutcomeKind.SUCCEEDED
    session.order.refresh_from_db()
    assert session.order.is_paid
    assert len(events(session, EventKind.PAYMENT_SUCCEEDED)) == 1
    # Every attempt is on the timeline, numbered, each failed one with its next attempt.
    attempts = events(session, EventKind.RECEIPT_FAILED, EventKind.RECEIPT_SENT)
    *failed, sent = attempts
    assert len(failed) >= FAILED_WHILE_DOWN
    assert [event.data["attempt"] for event in attempts] == list(range(1, len(attempts) + 1))
    assert {event.kind for event in failed} == {EventKind.RECEIPT_FAILED}
    assert all(event.data["error"].startswith("ConnectionRefusedError") for event in failed)
    assert not any(event.data["final"] for event in failed)
    assert sent.kind == EventKind.RECEIPT_SENT
    # With backoff: each attempt waited for the time its predecessor announced.
    for event, after in zip(failed, attempts[1:], strict=True):
        next_attempt_at = parse_datetime(event.data["next_attempt_at"])
        delay = RECEIPT_RETRIES[event.data["attempt"] - 1]
        waited = next_attempt_at - event.created_at
        assert abs(waited - timedelta(seconds=delay)) < timedelta(milliseconds=500)
        assert after.created_at >= next_attempt_at
    # One receipt, to the customer, and nothing left to send.
    assert [message.envelope_to for message in mail_server.messages] == [
        ["jenny.rosen@example.com"]
    ]
    assert mail_server.messages[0]["Subject"].startswith("[Test mode] Your receipt from ")
    assert not DBTaskResult.objects.filter(task_path=RECEIPT, status="READY").exists()


# --- The database connection drops mid-request ----------------------------------------------


@pytest.fixture
def drill_server(tmp_path):
    """gunicorn with production settings serving tests.db_drop_wsgi; ``arm(kind)`` makes the
    next request that records a ``kind`` event lose its database connection right after."""
    arm_file = tmp_path / "drop-connection"
    with Server(
        wsgi="tests.db_drop_wsgi", env=production_server_env(DRILL_ARM_FILE=str(arm_file))
    ) as server:
        server.arm = lambda kind: arm_file.write_text(kind)
        server.armed = arm_file.exists
        yield server


def test_a_payment_whose_database_connection_drops_shows_our_error_page_and_writes_nothing(
    org, drill_server
):
    with CallbackReceiver() as receiver:
        session = session_ready_to_pay(org=org, callback_url=receiver.url)
        page = open_page(drill_server.port, session.public_id)
        drill_server.arm(EventKind.PAYMENT_SUCCEEDED)

        status, headers, body = post_pay(drill_server.port, page, card_expiry())

        assert not drill_server.armed()  # the drill did drop a connection
        assert status == 500
        assert dict(headers)["Content-Type"].startswith("text/html")
        assert "Something went wrong on our side" in body.decode()
        # Rolled back whole: the order, the session's copy of it, the event, its callback and
        # the receipt task are written together or not at all.
        session.refresh_from_db()
        session.order.refresh_from_db()
        assert not session.order.is_paid and session.order.paid_at is None
        assert not session.is_paid and session.failed_attempts == 0
        assert events(session, EventKind.PAYMENT_SUCCEEDED) == []
        assert not CallbackDelivery.objects.filter(session=session).exists()
        assert not DBTaskResult.objects.filter(task_path=RECEIPT).exists()

        # The customer pays again, on the same server: it got a working connection back.
        status, headers, _body = post_pay(drill_server.port, page, card_expiry())

    assert status == 303
    assert dict(headers)["Location"] == f"/checkout/{session.public_id}/thank-you"
    session.order.refresh_from_db()
    assert session.order.is_paid
    assert len(events(session, EventKind.PAYMENT_SUCCEEDED)) == 1
    assert CallbackDelivery.objects.filter(session=session).count() == 1


def test_an_api_create_whose_database_connection_drops_is_a_json_500_and_leaves_nothing(
    org, drill_server
):
    _key, api_key = create_api_key(org=org, mode="test")
    headers = {
        "Authorization": f"Bearer {api_key}",
        "Content-Type": "application/json",
        "Idempotency-Key": "order-1042-attempt-1",
    }
    drill_server.arm(EventKind.SESSION_CREATED)

    status, answer_headers, body = http_request(
        drill_server.port, "POST", "/v0/checkout/sessions", CREATE_BODY, headers
    )

    assert not drill_server.armed()
    assert status == 500
    assert dict(answer_headers)["Content-Type"].startswith("application/json")
    assert json.loads(body) == {
        "error": {
            "type": "api_error",
            "code": "internal_error",
            "param": None,
            "message": "Something went wrong on our end.",
        }
    }
    # Not half a session: no order, items, session, event or order number used; and the
    # Idempotency-Key's claim is released, so the merchant's retry is not refused with a 409.
    for model in (Order, OrderItem, CheckoutSession, TimelineEvent, IdempotencyRecord):
        assert not model.objects.exists(), model.__name__
    assert not OrderCounter.objects.filter(last_number__gt=0).exists()

    status, _headers, body = http_request(
        drill_server.port, "POST", "/v0/checkout/sessions", CREATE_BODY, headers
    )

    assert status == 201
    created = json.loads(body)
    assert CheckoutSession.objects.get().public_id == created["id"]
    assert created["order"]["number"] == 1


# --- A callback receiver that never answers -------------------------------------------------

CALLBACK_TIMEOUT = 2.0
SLACK = 1.5


class SilentReceiver:
    """Accepts every connection on 127.0.0.1 and never answers: not a byte, not a close."""

    def __enter__(self) -> "SilentReceiver":
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/hooks/silent"
        self.accepted: list[socket.socket] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()
        return self

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                self.accepted.append(self.listener.accept()[0])
            except TimeoutError:
                continue

    def __exit__(self, *exc_info) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        for connection in self.accepted:
            connection.close()
        self.listener.close()


def enqueue_completed_callback(session) -> CallbackDelivery:
    with transaction.atomic():
        return enqueue_session_callback(session=session, event_type=CallbackEvent.COMPLETED)


def test_a_receiver_that_never_answers_holds_the_worker_for_the_timeout_and_no_longer(
    org, database_tasks, start_worker
):
    with SilentReceiver() as silent, CallbackReceiver() as answering:
        # First in the queue: the receiver that never answers; right behind it, one that does.
        hung = enqueue_completed_callback(make_session(org=org, callback_url=silent.url))
        behind = enqueue_completed_callback(make_session(org=org, callback_url=answering.url))
        start_worker(
            CALLBACK_TIMEOUT_SECONDS=str(CALLBACK_TIMEOUT),
            CALLBACK_RETRY_SCHEDULE="300",
            TASK_STALE_AFTER_SECONDS="60",
        )

        def delivered():
            behind.refresh_from_db()
            return behind.status == CallbackDelivery.Status.DELIVERED

        wait_for(delivered, timeout=CALLBACK_TIMEOUT + 30, what="the callback queued behind")

    hung.refresh_from_db()
    [failed] = events(hung.session, EventKind.CALLBACK_FAILED)
    [succeeded] = events(behind.session, EventKind.CALLBACK_DELIVERED)
    assert len(silent.accepted) == 1
    # The attempt ended at the timeout, as a timeout, with its retry scheduled.
    assert failed.data["error"] == f"Timed out: no response within {CALLBACK_TIMEOUT:g} s."
    assert CALLBACK_TIMEOUT <= failed.data["duration_ms"] / 1000 <= CALLBACK_TIMEOUT + SLACK
    assert (hung.status, hung.attempts) == (CallbackDelivery.Status.PENDING, 1)
    assert hung.next_attempt_at - failed.created_at >= timedelta(seconds=299)
    retry = DBTaskResult.objects.get(task_path=DELIVER, status="READY", args_kwargs__args=[hung.pk])
    assert retry.run_after == hung.next_attempt_at
    # The worker went on with the next task at once.
    assert timedelta(0) <= succeeded.created_at - failed.created_at <= timedelta(seconds=SLACK)
    assert len(answering.received) == 1
