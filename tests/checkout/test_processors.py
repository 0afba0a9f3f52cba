"""The test processor honours the SPEC's table of Stripe test cards, and the card form treats a
number failing the Luhn check as a format error before any processor sees it."""

import pytest

from checkout.forms import CardForm
from checkout.processors import CardDetails, TestProcessor, processor_for_mode
from orgs.models import Mode
from tests.factories import card_form_data

# The SPEC's table: number → (success, brand, code, decline_code).
SPEC_TEST_CARDS = [
    ("4242424242424242", True, "visa", "", ""),
    ("5555555555554444", True, "mastercard", "", ""),
    ("4000000000000002", False, "visa", "card_declined", "generic_decline"),
    ("4000000000009995", False, "visa", "card_declined", "insufficient_funds"),
    ("4000000000000069", False, "visa", "expired_card", ""),
    ("4000000000000127", False, "visa", "incorrect_cvc", ""),
    ("4000000000000119", False, "visa", "processing_error", ""),
    ("4000000000009987", False, "visa", "card_declined", "lost_card"),
    ("4000000000009979", False, "visa", "card_declined", "stolen_card"),
    ("4000000000006975", False, "visa", "card_declined", "card_velocity_exceeded"),
    # Any other Luhn-valid number declines generically.
    ("4000056655665556", False, "visa", "card_declined", "generic_decline"),
    ("378282246310005", False, "amex", "card_declined", "generic_decline"),
]


def charge(number: str, key: str = "cs_test_x:attempt:1"):
    card = CardDetails(number=number, exp_month=12, exp_year=2040, cvc="123")
    return TestProcessor().charge(
        amount=7500, currency="USD", card=card, idempotency_key=key, description="Order #1"
    )


@pytest.mark.parametrize(("number", "success", "brand", "code", "decline_code"), SPEC_TEST_CARDS)
def test_each_test_card_gives_its_documented_result(number, success, brand, code, decline_code):
    result = charge(number)

    assert (result.success, result.brand, result.code, result.decline_code) == (
        success,
        brand,
        code,
        decline_code,
    )
    assert result.last4 == number[-4:]
    assert bool(result.message) is not success  # every decline tells the customer why


def test_same_idempotency_key_replays_the_same_charge_reference():
    assert charge("4242424242424242").reference == charge("4242424242424242").reference
    assert (
        charge("4242424242424242", "k:1").reference != charge("4242424242424242", "k:2").reference
    )


def test_luhn_failing_number_is_an_incorrect_number_format_error():
    form = CardForm(card_form_data(number="4242 4242 4242 4241"))

    assert not form.is_valid()
    assert form.errors.as_data()["number"][0].code == "incorrect_number"


def test_test_mode_always_has_a_processor_and_live_has_none_unless_configured(settings):
    settings.LIVE_PAYMENT_PROCESSOR = ""
    assert isinstance(processor_for_mode(Mode.TEST), TestProcessor)
    assert processor_for_mode(Mode.LIVE) is None

    settings.LIVE_PAYMENT_PROCESSOR = "checkout.processors.test.TestProcessor"
    assert processor_for_mode(Mode.LIVE) is not None
