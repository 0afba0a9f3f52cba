"""Payment processors: ``charge(...) -> ChargeResult``. Test mode uses the built-in test
processor (Stripe's test cards); live mode uses the class named by LIVE_PAYMENT_PROCESSOR."""

from django.conf import settings
from django.utils.module_loading import import_string

from checkout.processors.base import (
    CardDetails,
    ChargeResult,
    PaymentProcessor,
    ProcessorUnavailable,
)
from checkout.processors.test import TestProcessor
from orgs.models import Mode

__all__ = [
    "CardDetails",
    "ChargeResult",
    "PaymentProcessor",
    "ProcessorUnavailable",
    "TestProcessor",
    "processor_for_mode",
]


def processor_for_mode(mode: str) -> PaymentProcessor | None:
    """The processor that charges ``mode``'s sessions, or None when none is configured."""
    if mode == Mode.TEST:
        return TestProcessor()
    if settings.LIVE_PAYMENT_PROCESSOR:
        return import_string(settings.LIVE_PAYMENT_PROCESSOR)()
    return None
