"""The payment processor interface."""

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class CardDetails:
    number: str  # digits only
    exp_month: int
    exp_year: int  # four digits
    cvc: str

    @property
    def last4(self) -> str:
        return self.number[-4:]


@dataclass(frozen=True)
class ChargeResult:
    success: bool
    reference: str = ""  # the processor's charge id
    code: str = ""  # e.g. card_declined, expired_card, incorrect_cvc, processing_error
    decline_code: str = ""  # e.g. generic_decline, insufficient_funds (for card_declined)
    message: str = ""  # safe to show the customer
    brand: str = ""  # visa, mastercard, amex, discover, …
    last4: str = ""


class ProcessorUnavailable(Exception):
    """The processor could not be reached or failed; the charge's outcome is unknown.

    Not a decline: retrying the same attempt (same idempotency key) is safe, because the
    processor answers a repeated key with the first outcome instead of charging again.
    """


class PaymentProcessor(Protocol):
    name: str

    def charge(
        self,
        *,
        amount: int,
        currency: str,
        card: CardDetails,
        idempotency_key: str,
        description: str,
    ) -> ChargeResult:
        """Charge the card once; the same ``idempotency_key`` must never charge twice.

        Raises ProcessorUnavailable when the outcome is unknown (timeout, outage).
        """
        ...
