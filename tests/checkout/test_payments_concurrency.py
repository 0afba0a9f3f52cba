"""Paying is safe under concurrency (PostgreSQL row locks): ten simultaneous submissions for one
session — two tabs, a double click, several app servers — charge the order exactly once, and a
request that finds a payment of its session under way answers at once instead of holding an app
worker for the other request's whole processor call."""

import threading
import time
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.core import mail
from django.db import connection
from django.test import Client
from django.utils import timezone

from checkout import services
from checkout.choices import EventKind, PaymentStatus
from checkout.models import CheckoutSession, Order, TimelineEvent
from checkout.processors.test import TestProcessor
from tests.concurrency import at_once
from tests.factories import card_form_data, session_ready_to_pay

THREADS = 10
IN_PROGRESS = "A payment for this order is already being processed"
PAYMENT_EVENTS = (EventKind.PAYMENT_SUCCEEDED, EventKind.PAYMENT_FAILED, EventKind.PAYMENT_ERROR)


@pytest.fixture
def slow_charges(monkeypatch):
    """Charges the test processor receives; each takes 50 ms, like a real network call, so
    that unsynchronised requests would overlap inside it."""
    seen: list[str] = []
    original = TestProcessor.charge

    def slow_charge(self, **kwargs):
        seen.append(kwargs["idempotency_key"])
        time.sleep(0.05)
        return original(self, **kwargs)

    monkeypatch.setattr(TestProcessor, "charge", slow_charge)
    return seen


def flashed(response) -> str:
    """The message a no-JS pay request left for the page it redirects to."""
    return " ".join(message.message for message in get_messages(response.wsgi_request))


def payment_events(session) -> list[TimelineEvent]:
    return list(TimelineEvent.objects.filter(session=session, kind__in=PAYMENT_EVENTS))


def submit_at_once(url: str, data: dict) -> list:
    """POST ``data`` to ``url`` from THREADS browsers released at the same instant."""
    return at_once(lambda: Client().post(url, data), threads=THREADS)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_ten_simultaneous_payments_charge_the_order_exactly_once(slow_charges):
    session = session_ready_to_pay(customer_email="race@example.com")

    responses = submit_at_once(f"/checkout/{session.public_id}/pay", card_form_data())

    thank_you = f"/checkout/{session.public_id}/thank-you"
    succeeded = [r for r in responses if r.get("Location") == thank_you]
    # The others came while the charge ran (told so at once) or after it (told it is paid):
    # both are sent back to the session's page with their message.
    others = [r for r in responses if r.get("Location") == f"/checkout/{session.public_id}"]
    assert len(succeeded) == 1
    assert len(others) == THREADS - 1
    assert all(IN_PROGRESS in flashed(r) or "already been paid" in flashed(r) for r in others)
    [idempotency_key] = slow_charges
    assert idempotency_key.startswith(f"{session.public_id}:attempt:1:card:")
    order = Order.objects.get(pk=session.order_id)
    assert order.payment_status == PaymentStatus.PAID
    assert (
        TimelineEvent.objects.filter(session=session, kind=EventKind.PAYMENT_SUCCEEDED).count() == 1
    )
    assert TimelineEvent.objects.filter(session=session, kind=EventKind.RECEIPT_SENT).count() == 1
    assert [message.to for message in mail.outbox] == [["race@example.com"]]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_declines_are_each_their_own_attempt_or_refused_as_in_progress(
    slow_charges,
):
    session = session_ready_to_pay()

    responses = submit_at_once(
        f"/checkout/{session.public_id}/pay", card_form_data(number="4000 0000 0000 0002")
    )

    session.refresh_from_db()
    assert all(r.status_code == 303 for r in responses)  # each back to the page with its message
    declined = [r for r in responses if "Your card was declined" in flashed(r)]
    refused = [r for r in responses if IN_PROGRESS in flashed(r)]
    assert len(declined) >= 1 and len(declined) + len(refused) == THREADS
    # Each request that reached the processor is one attempt, numbered without gaps; the
    # refused ones recorded nothing.
    assert session.failed_attempts == len(declined)
    attempts = TimelineEvent.objects.filter(session=session, kind=EventKind.PAYMENT_FAILED)
    assert sorted(event.data["attempt"] for event in attempts) == list(range(1, len(declined) + 1))
    assert len(payment_events(session)) == len(declined)
    # Every attempt had its own idempotency key: none was mistaken for a replay.
    assert len(set(slow_charges)) == len(slow_charges) == len(declined)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_payments_of_a_session_expiring_meanwhile_charge_nothing(
    slow_charges, monkeypatch
):
    """The session is open when every request passes the view's check and expires before they
    take the lock: only the check under the lock stands between them and a charge."""
    session = session_ready_to_pay()
    CheckoutSession.objects.filter(pk=session.pk).update(
        expires_at=timezone.now() + timedelta(seconds=3)
    )
    past_the_views_check = threading.Barrier(THREADS)
    real_lock_for_update = services.lock_for_update

    def lock_after_expiry(locked_session, **kwargs):
        past_the_views_check.wait(timeout=30)  # all ten were let through while it was open
        expires_at = CheckoutSession.objects.get(pk=locked_session.pk).expires_at
        time.sleep(max(0, (expires_at - timezone.now()).total_seconds()) + 0.05)
        return real_lock_for_update(locked_session, **kwargs)

    monkeypatch.setattr(services, "lock_for_update", lock_after_expiry)

    responses = submit_at_once(f"/checkout/{session.public_id}/pay", card_form_data())

    assert past_the_views_check.n_waiting == 0 and not past_the_views_check.broken
    assert all(r.status_code == 303 for r in responses)
    assert all(r["Location"] == f"/checkout/{session.public_id}" for r in responses)
    assert Client().get(f"/checkout/{session.public_id}").status_code == 410
    assert slow_charges == []
    assert Order.objects.get(pk=session.order_id).payment_status == PaymentStatus.UNPAID
    assert payment_events(session) == []
    assert mail.outbox == []


class BlockingCharges:
    """A processor call that lasts until the test releases it, like a slow card network."""

    def __init__(self):
        self.charging = threading.Event()  # set when a charge has started (its lock is held)
        self.release = threading.Event()
        self.idempotency_keys: list[str] = []

    def pay_in_background(self, session) -> tuple[threading.Thread, list]:
        """Start a no-JS payment of ``session`` in another browser; return once it is charging."""
        responses: list = []

        def first_browser():
            try:
                responses.append(
                    Client().post(f"/checkout/{session.public_id}/pay", card_form_data())
                )
            finally:
                connection.close()

        thread = threading.Thread(target=first_browser)
        thread.start()
        assert self.charging.wait(timeout=10)
        return thread, responses


@pytest.fixture
def blocking_charges(monkeypatch):
    charges = BlockingCharges()
    original = TestProcessor.charge

    def blocking_charge(self, **kwargs):
        charges.idempotency_keys.append(kwargs["idempotency_key"])
        charges.charging.set()
        charges.release.wait(timeout=30)
        return original(self, **kwargs)

    monkeypatch.setattr(TestProcessor, "charge", blocking_charge)
    yield charges
    charges.release.set()  # never leave a thread blocked, whatever the test did


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("htmx", [False, True], ids=["no-js", "htmx"])
def test_pay_while_another_payment_is_charging_answers_at_once_without_an_attempt(
    blocking_charges, htmx
):
    session = session_ready_to_pay()
    first, first_responses = blocking_charges.pay_in_background(session)
    second_browser = Client(headers={"HX-Request": "true"} if htmx else {})

    started = time.monotonic()
    second = second_browser.post(
        f"/checkout/{session.public_id}/pay", card_form_data(number="5555 5555 5555 4444")
    )
    took = time.monotonic() - started

    assert took < 2  # not behind the first request's processor call, which is still running
    if htmx:
        assert second.status_code == 200
        assert second.content.decode().lstrip().startswith('<form id="card-step"')
        assert IN_PROGRESS in second.content.decode()
    else:
        assert second.status_code == 303
        page = second_browser.get(second["Location"])
        assert "Payment in progress" in page.content.decode()
        assert IN_PROGRESS in page.content.decode()
    session.refresh_from_db()
    assert session.failed_attempts == 0
    assert payment_events(session) == []
    assert len(blocking_charges.idempotency_keys) == 1  # only the first reached the processor

    blocking_charges.release.set()
    first.join(timeout=30)

    [first_response] = first_responses
    assert first_response["Location"] == f"/checkout/{session.public_id}/thank-you"
    assert Order.objects.get(pk=session.order_id).payment_status == PaymentStatus.PAID
    assert [event.kind for event in payment_events(session)] == [EventKind.PAYMENT_SUCCEEDED]
    assert len(blocking_charges.idempotency_keys) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_saving_details_while_a_payment_is_charging_does_not_wait_for_the_processor(
    blocking_charges,
):
    session = session_ready_to_pay(customer_email="first@example.com")
    first, first_responses = blocking_charges.pay_in_background(session)

    started = time.monotonic()
    response = Client().post(
        f"/checkout/{session.public_id}/details", {"email": "second@example.com"}
    )
    took = time.monotonic() - started

    assert took < services.DETAILS_LOCK_MAX_WAIT.total_seconds() + 1.5
    assert response.status_code == 200
    assert IN_PROGRESS in response.content.decode()
    blocking_charges.release.set()
    first.join(timeout=30)
    session.refresh_from_db()
    assert session.customer_email == "first@example.com"
    assert first_responses[0]["Location"] == f"/checkout/{session.public_id}/thank-you"
