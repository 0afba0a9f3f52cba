"""The test-mode processor: Stripe's test card numbers, nothing is charged for real."""

import hashlib

from checkout.processors.base import CardDetails, ChargeResult

# card number → (code, decline_code); numbers not listed but Luhn-valid decline generically.
TEST_CARD_OUTCOMES: dict[str, tuple[str, str]] = {
    "4242424242424242": ("", ""),
    "5555555555554444": ("", ""),
    "4000000000000002": ("card_declined", "generic_decline"),
    "4000000000009995": ("card_declined", "insufficient_funds"),
    "4000000000000069": ("expired_card", ""),
    "4000000000000127": ("incorrect_cvc", ""),
    "4000000000000119": ("processing_error", ""),
    "4000000000009987": ("card_declined", "lost_card"),
    "4000000000009979": ("card_declined", "stolen_card"),
    "4000000000006975": ("card_declined", "card_velocity_exceeded"),
}

# What the customer is told, per code / decline code: friendly, and never blaming.
CUSTOMER_MESSAGES = {
    "generic_decline": "Your card was declined. Try another card or contact your bank.",
    "insufficient_funds": "Your card has insufficient funds. Try another card.",
    "lost_card": "Your card was declined. Try another card or contact your bank.",
    "stolen_card": "Your card was declined. Try another card or contact your bank.",
    "card_velocity_exceeded": "Your card was declined for too many recent purchases. "
    "Try another card or contact your bank.",
    "expired_card": "Your card has expired. Try another card.",
    "incorrect_cvc": "Your card's security code is incorrect. Check it and try again.",
    "processing_error": "An error occurred while processing your card. Try again in a moment.",
}


def card_brand(number: str) -> str:
    """The card network from the number's leading digits (IIN ranges)."""
    if number.startswith("4"):
        return "visa"
    if number[:2] in {"51", "52", "53", "54", "55"} or "2221" <= number[:4] <= "2720":
        return "mastercard"
    if number[:2] in {"34", "37"}:
        return "amex"
    if number.startswith(("6011", "65")):
        return "discover"
    if number[:2] == "35":
        return "jcb"
    return "unknown"


class TestProcessor:
    name = "test"

    def charge(
        self,
        *,
        amount: int,
        currency: str,
        card: CardDetails,
        idempotency_key: str,
        description: str,
    ) -> ChargeResult:
        code, decline_code = TEST_CARD_OUTCOMES.get(
            card.number, ("card_declined", "generic_decline")
        )
        # Deterministic per attempt, like a real processor replaying an idempotent request.
        reference = "ch_test_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]
        brand = card_brand(card.number)
        if not code:
            return ChargeResult(success=True, reference=reference, brand=brand, last4=card.last4)
        return ChargeResult(
            success=False,
            reference=reference,
            code=code,
            decline_code=decline_code,
            message=CUSTOMER_MESSAGES[decline_code or code],
            brand=brand,
            last4=card.last4,
        )
