"""A processor that cannot be reached: not a decline, not an attempt, safe to retry."""

import pytest
from django.test import override_settings

from checkout.processors.base import CardDetails, ChargeResult, ProcessorUnavailable
from checkout.request_context import CustomerContext
from checkout.services import PaymentOutcomeKind, pay_checkout_session
from tests.factories import card_form_data, session_ready_to_pay

pytestmark = pytest.mark.django_db


class FlakyLiveProcessor:
    """A live processor whose network is down for the first ``outages`` calls."""

    name = "flaky"
    outages = 1
    idempotency_keys: list[str] = []

    def charge(self, *, amount, currency, card: CardDetails, idempotency_key, description):
        FlakyLiveProcessor.idempotency_keys.append(idempotency_key)
        if len(FlakyLiveProcessor.idempotency_keys) <= FlakyLiveProcessor.outages:
            raise ProcessorUnavailable("connection reset by processor")
        return ChargeResult(success=True, reference="ch_live_1", brand="visa", last4=card.last4)


@pytest.fixture
def flaky_live_processor():
    FlakyLiveProcessor.idempotency_keys = []
    path = f"{__name__}.FlakyLiveProcessor"
    with override_settings(LIVE_PAYMENT_PROCESSOR=path):
        yield FlakyLiveProcessor


def context() -> CustomerContext:
    return CustomerContext(ip_address="203.0.113.9", user_agent="pytest", device_type="desktop")


def card() -> CardDetails:
    return CardDetails(number="4242424242424242", exp_month=12, exp_year=2099, cvc="123")


def test_outage_is_recorded_and_is_not_a_failed_attempt(flaky_live_processor):
    session = session_ready_to_pay(mode="live")

    outcome = pay_checkout_session(session=session, card=card(), context=context())

    assert outcome.kind == PaymentOutcomeKind.PROCESSOR_ERROR
    session.refresh_from_db()
    session.order.refresh_from_db()
    assert session.failed_attempts == 0
    assert not session.order.is_paid
    event = session.events.get(kind="payment_error")
    assert event.data["attempt"] == 1 and "connection reset" in event.data["error"]


def test_outage_event_names_the_customer_as_its_actor(flaky_live_processor):
    session = session_ready_to_pay(mode="live")

    pay_checkout_session(session=session, card=card(), context=context())

    assert session.events.get(kind="payment_error").actor_kind == "customer"


def test_retry_with_the_same_card_after_an_outage_reuses_the_attempts_idempotency_key(
    flaky_live_processor,
):
    session = session_ready_to_pay(mode="live")
    pay_checkout_session(session=session, card=card(), context=context())

    outcome = pay_checkout_session(session=session, card=card(), context=context())

    assert outcome.kind == PaymentOutcomeKind.SUCCEEDED
    first, second = flaky_live_processor.idempotency_keys
    assert first == second
    assert first.startswith(f"{session.public_id}:attempt:1:card:")
    assert card().number not in first and "4242" not in first.split(":card:")[1]


def test_retry_with_another_card_after_an_outage_gets_a_new_idempotency_key(
    flaky_live_processor,
):
    # A processor rejects a reused key whose parameters (here: the card) changed.
    session = session_ready_to_pay(mode="live")
    pay_checkout_session(session=session, card=card(), context=context())
    other_card = CardDetails(number="5555555555554444", exp_month=12, exp_year=2099, cvc="123")

    outcome = pay_checkout_session(session=session, card=other_card, context=context())

    assert outcome.kind == PaymentOutcomeKind.SUCCEEDED
    first, second = flaky_live_processor.idempotency_keys
    assert first != second
    assert second.startswith(f"{session.public_id}:attempt:1:card:")


def test_same_card_with_another_expiry_gets_a_new_idempotency_key(flaky_live_processor):
    session = session_ready_to_pay(mode="live")
    pay_checkout_session(session=session, card=card(), context=context())
    renewed = CardDetails(number="4242424242424242", exp_month=11, exp_year=2099, cvc="123")

    pay_checkout_session(session=session, card=renewed, context=context())

    first, second = flaky_live_processor.idempotency_keys
    assert first != second


@pytest.mark.parametrize("htmx", [False, True], ids=["no-js", "htmx"])
def test_customer_sees_a_retry_message_not_a_decline_or_a_server_error(
    client, flaky_live_processor, htmx
):
    session = session_ready_to_pay(mode="live")
    headers = {"HX-Request": "true"} if htmx else {}

    response = client.post(
        f"/checkout/{session.public_id}/pay", card_form_data(), follow=True, headers=headers
    )

    assert response.status_code == 200
    assert "Payment not completed" in response.text
    assert "could not reach the card network" in response.text
    assert "Payment declined" not in response.text
    assert not session.events.filter(kind="payment_failed").exists()


def test_a_decline_after_an_outage_is_titled_declined_again(
    client, flaky_live_processor, monkeypatch
):
    session = session_ready_to_pay(mode="live")
    client.post(f"/checkout/{session.public_id}/pay", card_form_data(), follow=True)
    decline = ChargeResult(success=False, code="card_declined", message="Your card was declined.")
    monkeypatch.setattr(flaky_live_processor, "charge", lambda self, **kwargs: decline)

    response = client.post(f"/checkout/{session.public_id}/pay", card_form_data(), follow=True)

    assert "Payment declined" in response.text
    assert "Payment not completed" not in response.text
