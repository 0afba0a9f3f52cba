"""A recovery email the mail server could not take is tried again as a receipt is
(``checkout.mail_retries``, ``RECEIPT_RETRY_SCHEDULE``), but never once its link has expired,
nor once the link or the sale was paid; while it is being tried it still counts against the one
email a day, and once it failed for good it no longer does. Against a real SMTP server on
127.0.0.1 (or a port where none listens), with the worker of the database task backend."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_tasks_db.models import DBTaskResult

from checkout.actors import Actor
from checkout.choices import EventKind
from checkout.models import CheckoutSession
from checkout.processors import CardDetails
from checkout.recovery import recovery_status
from checkout.request_context import CustomerContext
from checkout.services import (
    RecoveryEmailTooSoon,
    pay_checkout_session,
    recover_session,
    save_customer_details,
)
from tests.factories import UserFactory, make_session
from tests.processes import run_due_tasks, wait_for
from tests.smtp_sink import SmtpSink, free_port

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

RECOVERY = "checkout.recovery.send_recovery_email_task"
TRY_LATER = "451 4.3.0 Mailbox busy, try again later"
SUBJECT = "Complete your purchase from"


@pytest.fixture
def merchant():
    return UserFactory(username="jenny")


@pytest.fixture
def failed(org):
    """A session whose card was declined once, with the customer's email: a sale to recover."""
    return make_session(org=org, failed_attempts=1, customer_email="alice@example.com")


def email_recovery(session, user):
    """Recover sale → Email recovery link, as the dashboard does: the task commits with it."""
    return recover_session(session=session, actor=Actor.for_user(user), send_email=True).session


def customer_pays(session) -> None:
    """The customer opens the link, gives their email and pays (the hosted page's services)."""
    context = CustomerContext(ip_address="203.0.113.9")
    save_customer_details(
        session=session, details={"customer_email": "alice@example.com"}, context=context
    )
    card = CardDetails(number="4242424242424242", exp_month=12, exp_year=2099, cvc="123")
    outcome = pay_checkout_session(session=session, card=card, context=context)
    assert CheckoutSession.objects.get(pk=session.pk).is_paid, outcome


def recovery_events(session):
    return list(
        session.events.filter(kind__in=[EventKind.RECOVERY_SENT, EventKind.RECOVERY_FAILED])
        .order_by("pk")
        .values_list("kind", "data")
    )


def queued_retries():
    return DBTaskResult.objects.filter(task_path=RECOVERY, status="READY")


def make_retry_due() -> None:
    queued_retries().update(run_after=timezone.now())


def recovery_emails(sink: SmtpSink) -> list:
    return [message for message in sink.messages if SUBJECT in message["Subject"]]


def test_a_recovery_email_the_mail_server_could_not_take_is_queued_again_on_the_schedule(
    failed, merchant, settings, database_tasks, smtp_on
):
    settings.RECEIPT_RETRY_SCHEDULE = [60, 300]
    smtp_on(free_port())  # nothing listens: connection refused
    new = email_recovery(failed, merchant)

    run_due_tasks()

    [(kind, data)] = recovery_events(failed)
    assert kind == EventKind.RECOVERY_FAILED
    assert data["error"].startswith("ConnectionRefusedError")
    assert (data["attempt"], data["final"], data["recovery_session"]) == (1, False, new.public_id)
    next_attempt_at = parse_datetime(data["next_attempt_at"])
    assert abs(next_attempt_at - (timezone.now() + timedelta(seconds=60))) < timedelta(seconds=10)
    retry = queued_retries().get()
    assert retry.run_after == next_attempt_at
    session_id, actor, attempt = retry.args_kwargs["args"]
    assert (session_id, attempt) == (new.public_id, 2)
    assert Actor.from_task_argument(actor) == Actor.for_user(merchant)


def test_a_recovery_email_is_sent_on_the_attempt_after_the_mail_server_said_try_later(
    failed, merchant, settings, database_tasks, smtp_on
):
    settings.RECEIPT_RETRY_SCHEDULE = [0, 0, 0]
    with SmtpSink(recipient_replies=[TRY_LATER, TRY_LATER]) as sink:
        smtp_on(sink.port)
        new = email_recovery(failed, merchant)

        run_due_tasks()

    events = recovery_events(failed)
    assert [(kind, data["attempt"]) for kind, data in events] == [
        (EventKind.RECOVERY_FAILED, 1),
        (EventKind.RECOVERY_FAILED, 2),
        (EventKind.RECOVERY_SENT, 3),
    ]
    assert events[0][1]["error"].startswith("SMTPRecipientsRefused")
    assert set(
        failed.events.filter(kind__startswith="recovery_").values_list("actor_user", flat=True)
    ) == {merchant.pk}
    [message] = sink.messages
    assert message.envelope_to == ["alice@example.com"]
    assert f"/checkout/{new.public_id}" in message.get_body(("plain",)).get_content()


def test_a_permanent_refusal_is_final_at_once(failed, merchant, settings, database_tasks, smtp_on):
    settings.RECEIPT_RETRY_SCHEDULE = [0, 0]
    with SmtpSink(recipient_replies=["550 5.1.1 No such user"]) as sink:
        smtp_on(sink.port)
        email_recovery(failed, merchant)

        run_due_tasks()

    [(kind, data)] = recovery_events(failed)
    assert (kind, data["attempt"], data["final"]) == (EventKind.RECOVERY_FAILED, 1, True)
    assert data["next_attempt_at"] is None
    assert "550" in data["error"]
    assert not queued_retries().exists()
    assert sink.messages == []


def test_the_last_failed_attempt_of_the_schedule_is_final(
    failed, merchant, settings, database_tasks, smtp_on
):
    settings.RECEIPT_RETRY_SCHEDULE = [0]
    with SmtpSink(recipient_replies=[TRY_LATER] * 2) as sink:
        smtp_on(sink.port)
        email_recovery(failed, merchant)

        run_due_tasks()

    events = recovery_events(failed)
    assert [(data["attempt"], data["final"]) for _kind, data in events] == [(1, False), (2, True)]
    assert not queued_retries().exists()
    assert sink.messages == []


def test_no_retry_is_queued_past_the_links_expiry(
    failed, merchant, settings, database_tasks, smtp_on
):
    settings.RECEIPT_RETRY_SCHEDULE = [0, 3600]
    with SmtpSink(recipient_replies=[TRY_LATER] * 2) as sink:
        smtp_on(sink.port)
        new = email_recovery(failed, merchant)
        # The link closes in 30 minutes: a try in 1 min still fits, one in an hour does not.
        CheckoutSession.objects.filter(pk=new.pk).update(
            expires_at=timezone.now() + timedelta(minutes=30)
        )

        run_due_tasks()

    events = recovery_events(failed)
    assert [(data["attempt"], data["final"]) for _kind, data in events] == [(1, False), (2, True)]
    assert events[-1][1]["next_attempt_at"] is None
    assert events[-1][1]["retries"] == "none: the link expires before the next try"
    assert not queued_retries().exists()
    assert sink.messages == []


def test_a_retry_after_the_link_was_paid_sends_nothing_and_says_so(
    failed, merchant, settings, database_tasks, smtp_on
):
    settings.RECEIPT_RETRY_SCHEDULE = [60]
    smtp_on(free_port())
    new = email_recovery(failed, merchant)
    run_due_tasks()  # attempt 1: refused, attempt 2 queued in a minute
    # The customer paid the link meanwhile (the merchant sent it by hand, say).
    customer_pays(new)

    with SmtpSink() as sink:
        smtp_on(sink.port)
        make_retry_due()
        run_due_tasks()

    assert recovery_emails(sink) == []
    (_, first), (kind, second) = recovery_events(failed)
    assert (kind, second["attempt"], second["final"], second["not_sent"]) == (
        EventKind.RECOVERY_FAILED,
        2,
        True,
        "paid",
    )
    assert "error" not in second


def test_a_retry_after_another_recovery_was_paid_sends_nothing(
    failed, merchant, settings, database_tasks, smtp_on
):
    settings.RECEIPT_RETRY_SCHEDULE = [60]
    smtp_on(free_port())
    email_recovery(failed, merchant)
    run_due_tasks()
    by_hand = recover_session(session=failed, actor=Actor.for_user(merchant), send_email=False)
    customer_pays(by_hand.session)

    with SmtpSink() as sink:
        smtp_on(sink.port)
        make_retry_due()
        run_due_tasks()

    assert recovery_emails(sink) == []  # its link would let the customer pay twice
    assert recovery_events(failed)[-1][1]["not_sent"] == "recovered"


def test_a_retry_after_the_link_expired_sends_nothing_and_frees_the_limit(
    failed, merchant, settings, database_tasks, smtp_on
):
    settings.RECEIPT_RETRY_SCHEDULE = [60]
    smtp_on(free_port())
    new = email_recovery(failed, merchant)
    run_due_tasks()
    # The worker was down until after the link closed.
    CheckoutSession.objects.filter(pk=new.pk).update(expires_at=timezone.now())

    with SmtpSink() as sink:
        smtp_on(sink.port)
        make_retry_due()
        run_due_tasks()

    assert sink.messages == []
    [_, (_kind, data)] = recovery_events(failed)
    assert (data["not_sent"], data["final"]) == ("expired", True)
    assert recovery_status(failed).last_email is None


def test_a_recovery_email_asked_for_while_the_mail_server_is_down_goes_out_once_it_is_back(
    failed, merchant, database_tasks, start_worker
):
    smtp_port = free_port()  # nothing listens there yet: every connection is refused
    new = email_recovery(failed, merchant)
    schedule = [1, 2, 2, 2, 2, 2, 2, 2, 2, 2]
    start_worker(
        EMAIL_URL=f"smtp://127.0.0.1:{smtp_port}",
        RECEIPT_RETRY_SCHEDULE=",".join(map(str, schedule)),
    )
    wait_for(
        lambda: len(recovery_events(failed)) >= 2,
        timeout=30,
        what="the recovery email to fail while the mail server is down",
    )
    with SmtpSink(port=smtp_port) as mail_server:
        wait_for(
            lambda: failed.events.filter(kind=EventKind.RECOVERY_SENT).exists(),
            timeout=30,
            what="the recovery email once the mail server is back",
        )

    attempts = list(
        failed.events.filter(
            kind__in=[EventKind.RECOVERY_FAILED, EventKind.RECOVERY_SENT]
        ).order_by("created_at", "pk")
    )
    *failures, sent = attempts
    assert [event.data["attempt"] for event in attempts] == list(range(1, len(attempts) + 1))
    assert {event.kind for event in failures} == {EventKind.RECOVERY_FAILED}
    assert not any(event.data["final"] for event in failures)
    assert sent.kind == EventKind.RECOVERY_SENT
    # With backoff: each attempt waited for the time its predecessor announced.
    for event, after in zip(failures, attempts[1:], strict=True):
        next_attempt_at = parse_datetime(event.data["next_attempt_at"])
        waited = next_attempt_at - event.created_at
        assert abs(waited - timedelta(seconds=schedule[event.data["attempt"] - 1])) < timedelta(
            milliseconds=500
        )
        assert after.created_at >= next_attempt_at
    [message] = mail_server.messages
    assert message.envelope_to == ["alice@example.com"]
    assert f"/checkout/{new.public_id}" in message.get_body(("plain",)).get_content()
    assert not queued_retries().exists()


def test_the_immediate_backend_tries_once_and_says_retries_need_the_database_backend(
    failed, merchant, smtp_on
):
    smtp_on(free_port())

    email_recovery(failed, merchant)

    [(kind, data)] = recovery_events(failed)
    assert (kind, data["attempt"], data["final"], data["retries"]) == (
        EventKind.RECOVERY_FAILED,
        1,
        True,
        "need TASKS_BACKEND=database",
    )
    assert recovery_status(failed).last_email is None  # failed for good: another may go


# --- The one email a day --------------------------------------------------------------------


def test_an_email_still_being_tried_refuses_a_second_one(
    failed, merchant, settings, database_tasks, smtp_on
):
    settings.RECEIPT_RETRY_SCHEDULE = [60]
    smtp_on(free_port())
    new = email_recovery(failed, merchant)
    run_due_tasks()  # failed for now: it will go out on the next try

    status = recovery_status(failed)
    with pytest.raises(RecoveryEmailTooSoon, match="still on its way") as refused:
        email_recovery(failed, UserFactory(username="bob"))

    assert status.last_email.retrying
    assert status.last_email.recovery_session_id == new.public_id
    assert not status.can_email_at(timezone.now())
    assert "by jenny" in str(refused.value)
    assert CheckoutSession.objects.filter(recovered_from=failed).count() == 1


def test_an_email_that_failed_for_good_no_longer_counts(
    failed, merchant, settings, database_tasks, smtp_on
):
    settings.RECEIPT_RETRY_SCHEDULE = [60]
    smtp_on(free_port())
    email_recovery(failed, merchant)
    run_due_tasks()
    make_retry_due()
    run_due_tasks()  # attempt 2, the schedule's last: final
    assert recovery_events(failed)[-1][1]["final"] is True

    with SmtpSink() as sink:
        smtp_on(sink.port)
        second = email_recovery(failed, merchant)
        run_due_tasks()

    [message] = sink.messages
    assert f"/checkout/{second.public_id}" in message.get_body(("plain",)).get_content()
    assert recovery_status(failed).last_email.recovery_session_id == second.public_id


def test_an_email_sent_on_a_retry_counts_the_day_from_when_it_went_out(
    failed, merchant, settings, database_tasks, smtp_on
):
    settings.RECEIPT_RETRY_SCHEDULE = [60]
    smtp_on(free_port())
    email_recovery(failed, merchant)
    run_due_tasks()
    # Asked for 3 hours ago; the mail server is back now.
    failed.events.filter(kind=EventKind.RECOVERED_BY).update(
        created_at=timezone.now() - timedelta(hours=3)
    )
    with SmtpSink() as sink:
        smtp_on(sink.port)
        make_retry_due()
        run_due_tasks()
    assert len(sink.messages) == 1

    last = recovery_status(failed).last_email
    sent_at = failed.events.get(kind=EventKind.RECOVERY_SENT).created_at

    assert (last.sent_at, last.retrying) == (sent_at, False)
    assert not recovery_status(failed).can_email_at(timezone.now() + timedelta(hours=22))
    assert recovery_status(failed).can_email_at(sent_at + timedelta(hours=24))


def test_an_email_still_being_tried_on_an_extended_link_counts_past_the_day(
    failed, merchant, settings, database_tasks, smtp_on
):
    settings.RECEIPT_RETRY_SCHEDULE = [60]
    smtp_on(free_port())
    new = email_recovery(failed, merchant)
    # The merchant extended the link to two days before the first attempt ran.
    CheckoutSession.objects.filter(pk=new.pk).update(
        expires_at=timezone.now() + timedelta(hours=48)
    )
    run_due_tasks()
    # Asked for 25 hours ago, and still to be tried: it may still go out, so no second one.
    failed.events.filter(kind=EventKind.RECOVERED_BY).update(
        created_at=timezone.now() - timedelta(hours=25)
    )

    status = recovery_status(failed)

    assert status.last_email.retrying
    assert not status.can_email_at(timezone.now())
    assert status.can_email_at(timezone.now() + timedelta(hours=48, minutes=1))
