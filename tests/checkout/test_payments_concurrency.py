"""Paying is safe under concurrency (PostgreSQL row locks): ten simultaneous submissions for one
session — two tabs, a double click, several app servers — charge the order exactly once."""

import threading
import time

import pytest
from django.core import mail
from django.db import connection
from django.test import Client

from checkout.choices import EventKind, PaymentStatus
from checkout.models import Order, TimelineEvent
from checkout.processors.test import TestProcessor
from tests.factories import card_form_data, expired_session, session_ready_to_pay

THREADS = 10


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


def submit_at_once(url: str, data: dict) -> list:
    """POST ``data`` to ``url`` from THREADS browsers released at the same instant."""
    start = threading.Barrier(THREADS)
    responses: list = []
    errors: list[BaseException] = []

    def one_browser():
        try:
            browser = Client()
            start.wait()
            responses.append(browser.post(url, data))
        except BaseException as error:  # surfaced below; a thread must not die silently
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=one_browser) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(responses) == THREADS
    return responses


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_ten_simultaneous_payments_charge_the_order_exactly_once(slow_charges):
    session = session_ready_to_pay(customer_email="race@example.com")

    responses = submit_at_once(f"/checkout/{session.public_id}/pay", card_form_data())

    succeeded = [r for r in responses if r.status_code == 303]
    already_paid = [r for r in responses if r.status_code == 200]
    assert len(succeeded) == 1
    assert succeeded[0]["Location"] == f"/checkout/{session.public_id}/thank-you"
    assert len(already_paid) == THREADS - 1
    assert all("already been paid" in r.content.decode() for r in already_paid)
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
def test_simultaneous_declines_each_count_as_their_own_attempt(slow_charges):
    session = session_ready_to_pay()

    responses = submit_at_once(
        f"/checkout/{session.public_id}/pay", card_form_data(number="4000 0000 0000 0002")
    )

    session.refresh_from_db()
    assert all(r.status_code == 303 for r in responses)  # each back to the page with its decline
    assert session.failed_attempts == THREADS
    attempts = TimelineEvent.objects.filter(session=session, kind=EventKind.PAYMENT_FAILED)
    assert sorted(event.data["attempt"] for event in attempts) == list(range(1, THREADS + 1))
    # Every attempt had its own idempotency key: none was mistaken for a replay.
    assert len(set(slow_charges)) == THREADS


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_payments_of_an_expired_session_charge_nothing(slow_charges):
    session = expired_session()
    session.details_provided_at = session.created_at
    session.save()

    responses = submit_at_once(f"/checkout/{session.public_id}/pay", card_form_data())

    assert all(r.status_code == 410 for r in responses)
    assert slow_charges == []
    assert Order.objects.get(pk=session.order_id).payment_status == PaymentStatus.UNPAID
    assert mail.outbox == []
