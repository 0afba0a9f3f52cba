"""Why a card was refused, in plain words for the merchant, and what to do next: the one table
the timeline, the dashboard's decline reasons and anything else explaining a decline read.

Keyed by the processor's ``decline_code`` when it gives one, else by its ``code`` (Stripe's
vocabulary: ``card_declined`` + ``insufficient_funds``, or ``expired_card`` alone). The customer
was told something friendlier and vaguer (``processors.test.CUSTOMER_MESSAGES``): a merchant
needs the real reason, a customer must not learn that their card was reported stolen.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from checkout.choices import BlockLimit


@dataclass(frozen=True)
class DeclineExplanation:
    code: str
    meaning: str  # what happened, for the merchant
    next_step: str  # what the customer (or the merchant) can do

    def __str__(self) -> str:
        return f"{self.code} — {self.meaning}; {self.next_step}"


# code → (meaning, next step). Every code our processors return is here (a test checks the
# test processor's); a live processor's other codes fall back to UNKNOWN_DECLINE.
DECLINE_EXPLANATIONS: dict[str, tuple[str, str]] = {
    "generic_decline": (
        "the card's bank declined the payment without saying why",
        "the customer can try another card or ask their bank to allow the payment",
    ),
    "card_declined": (
        "the card's bank declined the payment",
        "the customer can try another card or ask their bank to allow the payment",
    ),
    "insufficient_funds": (
        "the card has too little money",
        "the customer can try another card",
    ),
    "lost_card": (
        "the card was reported lost",
        "the customer must use another card; do not retry this one",
    ),
    "stolen_card": (
        "the card was reported stolen",
        "do not retry this card; if the same customer keeps trying cards, treat it as fraud",
    ),
    "expired_card": (
        "the card has expired",
        "the customer can check the expiry date or use another card",
    ),
    "incorrect_cvc": (
        "the security code (CVC) does not match the card",
        "the customer can check the three or four digits on the card and try again",
    ),
    "incorrect_number": (
        "the card number is not valid",
        "the customer can check the number and type it again",
    ),
    "processing_error": (
        "the card network had an error while processing the card",
        "the customer can try again in a moment; nothing was charged",
    ),
    "card_velocity_exceeded": (
        "the card went over its limit of recent purchases",
        "the customer can wait, ask their bank to allow the payment, or use another card",
    ),
    "do_not_honor": (
        "the card's bank declined the payment without saying why",
        "the customer can ask their bank to allow the payment or use another card",
    ),
    "fraudulent": (
        "the payment was declined as likely fraud",
        "do not retry; if you know this customer, ask them to use another card",
    ),
    "pickup_card": (
        "the bank asked for the card to be retained (often reported lost or stolen)",
        "the customer must use another card",
    ),
    "card_not_supported": (
        "the card does not support this kind of purchase",
        "the customer can use another card",
    ),
    "currency_not_supported": (
        "the card cannot pay in this currency",
        "the customer can use another card",
    ),
    "try_again_later": (
        "the card's bank could not answer in time",
        "the customer can try again in a moment",
    ),
    "authentication_required": (
        "the bank requires the customer to confirm the payment (3-D Secure)",
        "the customer can try again and complete the bank's confirmation step",
    ),
}

UNKNOWN_DECLINE = (
    "the payment was declined for a reason we have no explanation for",
    "the customer can try another card or ask their bank why it was declined",
)


# Payments refused before the processor was asked (``payment_blocked``, checkout.card_testing):
# limit → (meaning, next step); the limit's short name is its ``BlockLimit`` label.
BLOCK_EXPLANATIONS: dict[str, tuple[str, str]] = {
    BlockLimit.SESSION_DECLINES: (
        "card-testing protection: this session reached its limit of declined payments, so "
        "the card network was not asked again",
        "a run of different cards on one checkout is typical of card testing; if you know "
        "this customer, send them a new checkout (Recover sale)",
    ),
    BlockLimit.IP_DECLINES: (
        "card-testing protection: too many payments from the customer's network were declined "
        "in the last hour, so the card network was not asked",
        "many cards from one address is typical of card testing; a genuine customer can pay "
        "again after an hour",
    ),
}
UNKNOWN_BLOCK_REASON = "card-testing protection"
UNKNOWN_BLOCK = (
    "card-testing protection refused the payment, so the card network was not asked",
    "if you know this customer, send them a new checkout (Recover sale)",
)


def explain_block(limit: str) -> DeclineExplanation:
    """Why a payment was refused before the processor was asked (``payment_blocked``'s
    ``limit``), with what to do next."""
    limit = str(limit or "").strip()
    meaning, next_step = BLOCK_EXPLANATIONS.get(limit, UNKNOWN_BLOCK)
    return DeclineExplanation(code=limit or "blocked", meaning=meaning, next_step=next_step)


def block_reason(limit: str) -> str:
    """The few words naming a block's limit: ``too many declines on this session``."""
    limit = str(limit or "")
    return BlockLimit(limit).label if limit in BlockLimit.values else UNKNOWN_BLOCK_REASON


def decline_reason(data: Mapping | None) -> str:
    """The code a failed payment's event data is explained by: ``decline_code``, else ``code``
    (the same rule as ``CheckoutSessionQuerySet.top_decline_reasons``)."""
    data = data or {}
    return str(data.get("decline_code") or data.get("code") or "")


def explain_decline(code: str) -> DeclineExplanation:
    """The plain explanation of a decline code, with what to do next; a code we do not know
    (or none) gets a safe generic one."""
    code = str(code or "").strip()
    meaning, next_step = DECLINE_EXPLANATIONS.get(code, UNKNOWN_DECLINE)
    return DeclineExplanation(code=code or "unknown", meaning=meaning, next_step=next_step)
