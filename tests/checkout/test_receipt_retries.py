"""A receipt the mail server could not take is tried again on ``RECEIPT_RETRY_SCHEDULE``, as a
callback is: each attempt on the timeline, the last failed one ``final``; a refusal waiting
cannot fix (5xx) is final at once. Against a real SMTP server on 127.0.0.1 (or a port where
none listens), with the worker of the database task backend."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_tasks_db.models import DBTaskResult

from checkout.actors import Actor
from checkout.choices import EventKind
from checkout.receipts import send_receipt_task
from checkout.services import resend_receipt
from tests.factories import MembershipFactory, make_session
from tests.processes import run_due_tasks
from tests.smtp_sink import SmtpSink, free_port

pytestmark = pytest.mark.django_db(transaction=True)

RECEIPT = "checkout.receipts.send_receipt_task"
TRY_LATER = "451 4.3.0 Mailbox busy, try again later"


def receipt_events(session):
    return list(
        session.events.filter(kind__in=[EventKind.RECEIPT_SENT, EventKind.RECEIPT_FAILED])
        .order_by("pk")
        .values_list("kind", "data")
    )


def test_a_receipt_the_mail_server_could_not_take_is_queued_again_on_the_schedule(
    org, settings, database_tasks, smtp_on
):
    settings.RECEIPT_RETRY_SCHEDULE = [60, 300]
    smtp_on(free_port())  # nothing listens: connection refused
    session = make_session(org=org, paid=True)
    send_receipt_task.enqueue(session.public_id)

    run_due_tasks()

    [(kind, data)] = receipt_events(session)
    assert kind == EventKind.RECEIPT_FAILED
    assert data["error"].startswith("ConnectionRefusedError")
    assert (data["attempt"], data["final"]) == (1, False)
    next_attempt_at = parse_datetime(data["next_attempt_at"])
    assert abs(next_attempt_at - (timezone.now() + timedelta(seconds=60))) < timedelta(seconds=10)
    retry = DBTaskResult.objects.get(task_path=RECEIPT, status="READY")
    assert retry.run_after == next_attempt_at
    session_id, _actor, attempt = retry.args_kwargs["args"]
    assert (session_id, attempt) == (session.public_id, 2)


def test_a_receipt_is_sent_on_the_attempt_after_the_mail_server_said_try_later(
    org, settings, database_tasks, smtp_on
):
    settings.RECEIPT_RETRY_SCHEDULE = [0, 0, 0]
    session = make_session(org=org, paid=True)
    with SmtpSink(recipient_replies=[TRY_LATER, TRY_LATER]) as sink:
        smtp_on(sink.port)
        send_receipt_task.enqueue(session.public_id)

        run_due_tasks()

    events = receipt_events(session)
    assert [(kind, data["attempt"]) for kind, data in events] == [
        (EventKind.RECEIPT_FAILED, 1),
        (EventKind.RECEIPT_FAILED, 2),
        (EventKind.RECEIPT_SENT, 3),
    ]
    assert events[0][1]["error"].startswith("SMTPRecipientsRefused")
    assert sink.recipients() == [session.order.customer_email]


def test_the_last_failed_attempt_of_the_schedule_is_final(org, settings, database_tasks, smtp_on):
    settings.RECEIPT_RETRY_SCHEDULE = [0, 0]
    session = make_session(org=org, paid=True)
    with SmtpSink(recipient_replies=[TRY_LATER] * 3) as sink:
        smtp_on(sink.port)
        send_receipt_task.enqueue(session.public_id)

        run_due_tasks()

    events = receipt_events(session)
    assert [(data["attempt"], data["final"]) for _kind, data in events] == [
        (1, False),
        (2, False),
        (3, True),
    ]
    assert events[-1][1]["next_attempt_at"] is None
    assert not DBTaskResult.objects.filter(task_path=RECEIPT, status="READY").exists()
    assert sink.messages == []


def test_a_permanent_refusal_is_final_at_once(org, settings, database_tasks, smtp_on):
    settings.RECEIPT_RETRY_SCHEDULE = [0, 0]
    session = make_session(org=org, paid=True)
    with SmtpSink(recipient_replies=["550 5.1.1 No such user"]) as sink:
        smtp_on(sink.port)
        send_receipt_task.enqueue(session.public_id)

        run_due_tasks()

    [(kind, data)] = receipt_events(session)
    assert (kind, data["attempt"], data["final"]) == (EventKind.RECEIPT_FAILED, 1, True)
    assert "550" in data["error"]
    assert not DBTaskResult.objects.filter(task_path=RECEIPT, status="READY").exists()


def test_a_retried_resend_names_the_merchant_who_asked(org, settings, database_tasks, smtp_on):
    settings.RECEIPT_RETRY_SCHEDULE = [0]
    merchant = MembershipFactory(org=org).user
    session = make_session(org=org, paid=True)
    with SmtpSink(recipient_replies=[TRY_LATER]) as sink:
        smtp_on(sink.port)
        resend_receipt(session=session, actor=Actor.for_user(merchant))

        run_due_tasks()

    labels = list(
        session.events.filter(kind__in=[EventKind.RECEIPT_SENT, EventKind.RECEIPT_FAILED])
        .order_by("pk")
        .values_list("kind", "actor_label")
    )
    assert labels == [
        (EventKind.RECEIPT_FAILED, merchant.username),
        (EventKind.RECEIPT_SENT, merchant.username),
    ]
    assert len(sink.messages) == 1


def test_the_immediate_backend_tries_once_and_says_retries_need_the_database_backend(org, smtp_on):
    smtp_on(free_port())
    session = make_session(org=org, paid=True)

    send_receipt_task.enqueue(session.public_id)

    [(kind, data)] = receipt_events(session)
    assert (kind, data["final"], data["retries"]) == (
        EventKind.RECEIPT_FAILED,
        True,
        "need TASKS_BACKEND=database",
    )
