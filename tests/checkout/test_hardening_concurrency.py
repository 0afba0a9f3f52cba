"""The abuse limits under real concurrency (PostgreSQL, threads released together, a processor
that takes 50 ms like a network call): many requests at once never get the processor called,
or a session created, past a limit. The documented slack is zero."""

import threading
import time

import pytest
from django.test import Client

from checkout.choices import EventKind
from checkout.models import (
    CheckoutSession,
    Order,
    OrderCounter,
    PaymentAttempt,
    PaymentLinkOpen,
    TimelineEvent,
)
from checkout.processors.test import TestProcessor
from tests.concurrency import at_once
from tests.factories import PaymentLinkFactory, card_form_data, session_ready_to_pay

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

DECLINED = card_form_data("4000 0000 0000 0002")
TESTER_IP = "198.51.100.66"


@pytest.fixture
def slow_charges(monkeypatch):
    """Card numbers charged; each charge takes 50 ms, so unguarded requests overlap in it."""
    seen: list[str] = []
    lock = threading.Lock()
    original = TestProcessor.charge

    def slow_charge(self, **kwargs):
        with lock:
            seen.append(kwargs["idempotency_key"])
        time.sleep(0.05)
        return original(self, **kwargs)

    monkeypatch.setattr(TestProcessor, "charge", slow_charge)
    return seen


def test_declines_hammered_on_one_session_from_many_threads_stop_at_its_limit(slow_charges):
    session = session_ready_to_pay()
    url = f"/checkout/{session.public_id}/pay"

    def hammer():
        client = Client(REMOTE_ADDR=TESTER_IP)
        for _ in range(8):
            client.post(url, DECLINED, headers={"HX-Request": "true"})

    at_once(hammer, threads=10)

    session.refresh_from_db()
    assert len(slow_charges) == 5
    assert session.failed_attempts == 5
    assert (
        TimelineEvent.objects.filter(session=session, kind=EventKind.PAYMENT_BLOCKED).count() == 1
    )
    # Requests that found a payment under way gave their claims back.
    assert not PaymentAttempt.objects.filter(outcome="pending").exists()


def test_declines_from_one_ip_across_many_sessions_at_once_stop_at_its_limit(slow_charges):
    sessions = [session_ready_to_pay() for _ in range(30)]
    turn = iter(sessions)
    lock = threading.Lock()

    def tester():
        with lock:
            session = next(turn)
        client = Client(REMOTE_ADDR=TESTER_IP)
        for _ in range(2):
            client.post(
                f"/checkout/{session.public_id}/pay", DECLINED, headers={"HX-Request": "true"}
            )

    at_once(tester, threads=30)

    assert len(slow_charges) == 20
    assert PaymentAttempt.objects.filter(ip_key=TESTER_IP, outcome="declined").count() == 20
    blocked = TimelineEvent.objects.filter(kind=EventKind.PAYMENT_BLOCKED)
    assert {event.data["limit"] for event in blocked} == {"ip_declines"}


def test_openings_of_a_link_from_one_ip_at_once_create_at_most_the_cap(settings):
    settings.PAYMENT_LINK_SESSIONS_PER_IP_PER_HOUR = 20
    link = PaymentLinkFactory()

    statuses = at_once(
        lambda: Client(REMOTE_ADDR=TESTER_IP).get(f"/pay/{link.public_id}").status_code,
        threads=40,
    )

    assert sorted(statuses) == [303] * 20 + [429] * 20
    assert CheckoutSession.objects.count() == Order.objects.count() == 20
    assert OrderCounter.objects.get(org=link.org).last_number == 20
    assert PaymentLinkOpen.objects.count() == 20
