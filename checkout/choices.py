"""Kinds and statuses of the checkout domain (TextChoices), shared by models and queries."""

from django.db import models


class SessionStatus(models.TextChoices):
    """The derived status; never stored, computed by ``CheckoutSessionQuerySet.with_status``."""

    OPEN = "open", "Open"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"


class PaymentStatus(models.TextChoices):
    UNPAID = "unpaid", "Unpaid"
    PAID = "paid", "Paid"


class DeviceType(models.TextChoices):
    DESKTOP = "desktop", "Desktop"
    MOBILE = "mobile", "Mobile"
    TABLET = "tablet", "Tablet"
    OTHER = "other", "Other"


class SessionSource(models.TextChoices):
    PAYMENT_LINK = "payment_link", "Payment link"
    API = "api", "API"
    RECOVERY = "recovery", "Recovery"
    DASHBOARD = "dashboard", "Dashboard"


class EventKind(models.TextChoices):
    SESSION_CREATED = "session_created", "Session created"
    DETAILS_PROVIDED = "details_provided", "Details provided"
    PAYMENT_FAILED = "payment_failed", "Payment failed"
    PAYMENT_SUCCEEDED = "payment_succeeded", "Payment succeeded"
    PAYMENT_ERROR = "payment_error", "Payment processor error"
    # A payment refused before the processor was asked: a card-testing limit was reached.
    PAYMENT_BLOCKED = "payment_blocked", "Payment blocked"
    RECEIPT_SENT = "receipt_sent", "Receipt sent"
    RECEIPT_FAILED = "receipt_failed", "Receipt failed"
    RECOVERY_SENT = "recovery_sent", "Recovery email sent"
    RECOVERED_BY = "recovered_by", "Recovery session created"
    RECOVERY_FAILED = "recovery_failed", "Recovery email failed"
    EXPIRY_EXTENDED = "expiry_extended", "Expiry extended"
    SESSION_EXPIRED = "session_expired", "Session expired"
    CALLBACK_DELIVERED = "callback_delivered", "Callback delivered"
    CALLBACK_FAILED = "callback_failed", "Callback attempt failed"
    # The merchant erased the customer's personal data (``checkout.erasure``).
    CUSTOMER_ERASED = "customer_erased", "Customer data erased"


class RecoveryNotSent(models.TextChoices):
    """Why a recovery email was not even tried (``recovery_failed`` with ``not_sent``): its
    link could no longer be used, or must not be (``checkout.recovery``)."""

    PAID = "paid", "the customer paid this link"
    RECOVERED = "recovered", "the customer paid another recovery"
    EXPIRED = "expired", "the link expired first"


class BlockLimit(models.TextChoices):
    """The card-testing limit that refused a payment (``checkout.card_testing``); its label is
    the few words every page names it with (``checkout.declines.block_reason``)."""

    SESSION_DECLINES = "session_declines", "too many declines on this session"
    IP_DECLINES = "ip_declines", "too many declines from this IP address"


class ActorKind(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    USER = "user", "Merchant user"
    API = "api", "API key"
    SYSTEM = "system", "System"


class CallbackEvent(models.TextChoices):
    """The event types a merchant's callback URL receives (Stripe's names)."""

    COMPLETED = "checkout.session.completed", "Checkout session completed"
    PAYMENT_FAILED = "checkout.session.payment_failed", "Payment failed"
    EXPIRED = "checkout.session.expired", "Checkout session expired"
