"""Writes of the checkout domain. Each service validates first, then writes in one transaction,
records its timeline events in that transaction, and enqueues side effects with it
(``task_queue.enqueue_with_transaction``)."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import connection, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from checkout.actors import Actor
from checkout.card_testing import (
    AttemptClaim,
    PaymentBlock,
    claim_attempt,
    customer_decline_message,
    record_block,
    record_decline,
    release_claim,
    session_block,
    settle_claim,
)
from checkout.choices import EventKind, PaymentStatus, SessionSource, SessionStatus
from checkout.effective_settings import RequiredFieldSet, effective_settings, resolve_settings
from checkout.expiry import schedule_session_expiry
from checkout.locking import SessionLocked, lock_for_update
from checkout.models import (
    DEFAULT_EXPIRES_IN_MINUTES,
    MAX_EXPIRES_IN_MINUTES,
    MIN_EXPIRES_IN_MINUTES,
    CheckoutSession,
    Order,
    OrderCounter,
    OrderItem,
    PaymentAttempt,
)
from checkout.money import format_money
from checkout.processors import (
    CardDetails,
    PaymentProcessor,
    ProcessorUnavailable,
    processor_for_mode,
)
from checkout.receipts import send_receipt_task
from checkout.recovery import (
    RecoveryEmail,
    last_recovery_email,
    paid_recovery,
    send_recovery_email_task,
)
from checkout.request_context import CustomerContext
from checkout.task_queue import enqueue_with_transaction
from checkout.timeline import record_event
from orgs.callback_urls import validate_callback_url
from orgs.currencies import is_known_currency
from orgs.emails import canonical_email
from orgs.ids import new_public_id
from orgs.models import MAX_QUANTITY, MAX_UNIT_PRICE, Mode, Organization, PaymentLink

MAX_ITEMS = 100
# The smallest total a session may charge, in minor units of any currency: one cent, one yen.
# A single item may be free (a gift in the box), but a checkout that charges nothing is not one.
MIN_AMOUNT_TOTAL = 1
MAX_METADATA_KEYS = 20
MAX_METADATA_KEY_LENGTH = 40
MAX_METADATA_VALUE_LENGTH = 500

_validate_url = URLValidator(schemes=["http", "https"], message="Enter a valid http(s) URL.")


@dataclass(frozen=True)
class LineItem:
    name: str
    quantity: int
    unit_price: int

    @property
    def amount(self) -> int:
        return self.quantity * self.unit_price


def _validate_items(items: Sequence[LineItem]) -> list[str]:
    if not 1 <= len(items) <= MAX_ITEMS:
        return [f"Give between 1 and {MAX_ITEMS} items."]
    errors = []
    for index, item in enumerate(items):
        if not item.name or not item.name.strip() or len(item.name) > 250:
            errors.append(f"items[{index}].name: give a name of 1 to 250 characters.")
        if type(item.quantity) is not int or not 1 <= item.quantity <= MAX_QUANTITY:
            errors.append(
                f"items[{index}].quantity: must be a whole number from 1 to {MAX_QUANTITY}."
            )
        if type(item.unit_price) is not int or not 0 <= item.unit_price <= MAX_UNIT_PRICE:
            errors.append(
                f"items[{index}].unit_price: must be a whole number of minor units "
                f"from 0 to {MAX_UNIT_PRICE}."
            )
    return errors


def _validate_metadata(metadata: Mapping) -> list[str]:
    if len(metadata) > MAX_METADATA_KEYS:
        return [f"At most {MAX_METADATA_KEYS} keys."]
    return [
        f"{key!r}: keys up to {MAX_METADATA_KEY_LENGTH} and values up to "
        f"{MAX_METADATA_VALUE_LENGTH} characters, both strings."
        for key, value in metadata.items()
        if not isinstance(key, str)
        or not isinstance(value, str)
        or not 1 <= len(key) <= MAX_METADATA_KEY_LENGTH
        or len(value) > MAX_METADATA_VALUE_LENGTH
    ]


def _field_errors(validator, value: str) -> list[str]:
    if not value:
        return []
    try:
        validator(value)
    except ValidationError as error:
        return error.messages
    return []


def _next_order_number(org: Organization) -> int:
    """The org's next order number, in one statement (an upsert that returns the new value).

    The statement row-locks the org's counter until the caller's transaction commits, so
    numbers are unique and gapless per org even with concurrent checkouts.
    """
    table = OrderCounter._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (org_id, last_number) VALUES (%s, 1) "  # noqa: S608 - our SQL
            f"ON CONFLICT (org_id) DO UPDATE SET last_number = {table}.last_number + 1 "
            "RETURNING last_number",
            [org.pk],
        )
        return cursor.fetchone()[0]


class PaymentsUnavailable(Exception):
    """The mode has no payment processor (live mode without ``LIVE_PAYMENT_PROCESSOR``): no
    session may be created, since nothing could pay it."""

    def __init__(self, mode: str):
        super().__init__(f"{mode} mode has no payment processor configured.")
        self.mode = mode


def create_checkout_session(
    *,
    org: Organization,
    mode: str,
    source: str,
    actor: Actor,
    items: Sequence[LineItem] | None = None,
    link: PaymentLink | None = None,
    quantity: int | None = None,
    currency: str = "",
    customer_email: str = "",
    success_url: str = "",
    callback_url: str = "",
    required_fields: RequiredFieldSet | None = None,
    expires_in_minutes: int = DEFAULT_EXPIRES_IN_MINUTES,
    metadata: Mapping[str, str] | None = None,
    recovered_from: CheckoutSession | None = None,
    now: datetime | None = None,
) -> CheckoutSession:
    """Create a checkout session and its order (with items) in one transaction.

    Every entry point calls this: payment links, the API, recovery. Items come either from
    ``items`` or from the payment ``link`` (its product × ``quantity``). Raises ValidationError
    keyed by field name when an argument is out of bounds (a callback URL the SSRF rule refuses
    included), PaymentsUnavailable when the mode has no processor; nothing is written then.
    """
    mode = Mode(mode)
    if processor_for_mode(mode) is None:
        raise PaymentsUnavailable(mode)
    metadata = dict(metadata or {})
    required_fields = required_fields or RequiredFieldSet()
    if link is not None:
        if link.org_id != org.pk or link.mode != mode:
            raise ValidationError({"payment_link": "No such payment link."})
        if not link.is_active:
            raise ValidationError({"payment_link": "This payment link has been deactivated."})
        if items:
            raise ValidationError({"items": "Give either items or a payment link, not both."})
        items = [
            LineItem(name=link.name, quantity=quantity or link.quantity, unit_price=link.unit_price)
        ]
    items = list(items or [])

    errors: dict[str, list[str]] = {}
    if item_errors := _validate_items(items):
        errors["items"] = item_errors
    if currency and not is_known_currency(currency.upper()):
        errors["currency"] = [f"{currency!r} is not an ISO 4217 currency code."]
    if type(expires_in_minutes) is not int or not (
        MIN_EXPIRES_IN_MINUTES <= expires_in_minutes <= MAX_EXPIRES_IN_MINUTES
    ):
        errors["expires_in_minutes"] = [
            f"Must be a whole number of minutes from {MIN_EXPIRES_IN_MINUTES} "
            f"to {MAX_EXPIRES_IN_MINUTES}."
        ]
    if customer_email:
        try:
            customer_email = canonical_email(customer_email)
        except ValidationError as error:
            errors["customer_email"] = error.messages
    for name, value, validator in (
        ("success_url", success_url, _validate_url),
        ("callback_url", callback_url, _validate_url),
    ):
        if field_errors := _field_errors(validator, value):
            errors[name] = field_errors
    if "callback_url" not in errors and (
        field_errors := _field_errors(validate_callback_url, callback_url)
    ):
        errors["callback_url"] = field_errors
    if metadata_errors := _validate_metadata(metadata):
        errors["metadata"] = metadata_errors
    if errors:
        raise ValidationError(errors)

    session = CheckoutSession(
        success_url=success_url,
        callback_url=callback_url,
        require_phone=required_fields.phone,
        require_location=required_fields.location,
        require_shipping_address=required_fields.shipping_address,
    )
    effective = resolve_settings(org=org, link=link, session=session, currency=currency)
    if not is_known_currency(effective.currency):
        # The org's or link's currency was saved around its validator (a raw update, a fixture).
        raise ValidationError(
            {"currency": f"{effective.currency!r} (from the org or link) is not a usable currency."}
        )
    amount_total = sum(item.amount for item in items)
    if amount_total < MIN_AMOUNT_TOTAL:
        raise ValidationError(
            {
                "items": f"The total is {format_money(amount_total, effective.currency)}; a "
                f"checkout charges at least {format_money(MIN_AMOUNT_TOTAL, effective.currency)}."
            }
        )
    now = now or timezone.now()

    with transaction.atomic():
        order = Order.objects.create(
            org=org,
            mode=mode,
            number=_next_order_number(org),
            currency=effective.currency,
            amount_total=amount_total,
            customer_email=customer_email,
            created_at=now,
        )
        OrderItem.objects.bulk_create(
            OrderItem(
                order=order,
                name=item.name,
                quantity=item.quantity,
                unit_price=item.unit_price,
                position=position,
            )
            for position, item in enumerate(items)
        )
        session.public_id = new_public_id(f"cs_{mode}")
        session.org = org
        session.mode = mode
        session.order = order
        session.payment_link = link
        session.source = SessionSource(source)
        session.recovered_from = recovered_from
        session.created_at = now
        session.expires_at = now + timedelta(minutes=expires_in_minutes)
        session.customer_email = customer_email
        session.customer_email_fixed = bool(customer_email)
        session.metadata = metadata
        session.save(force_insert=True)
        record_event(
            session=session,
            kind=EventKind.SESSION_CREATED,
            actor=actor,
            data={
                "source": session.source,
                "payment_link": link.public_id if link else None,
                "recovered_from": recovered_from.public_id if recovered_from else None,
                "amount_total": order.amount_total,
                "currency": order.currency,
                "expires_at": session.expires_at.isoformat(),
                # Given by the merchant: the hosted page shows it fixed (never its value here).
                "customer_email_given": bool(customer_email),
            },
        )
        # The expiry callback comes from a task scheduled for expires_at (no cron).
        enqueue_with_transaction(partial(schedule_session_expiry, session.pk))
    return session


# --- Expiry extension (JSON API PATCH, dashboard) -------------------------------------------

MIN_EXTEND_EXPIRY_MINUTES = 1
MAX_EXTEND_EXPIRY_MINUTES = 1440


class SessionAlreadyPaid(Exception):
    """The session's order is paid: its window can no longer change."""


class SessionNoLongerActive(Exception):
    """The session's window has closed (and its expiry may already have been announced)."""


def extend_session_expiry(
    *, session: CheckoutSession, minutes: int, actor: Actor, now: datetime | None = None
) -> CheckoutSession:
    """Add ``minutes`` (1–1440) to an unpaid, still active session's ``expires_at``.

    Raises ValidationError (``minutes``), SessionAlreadyPaid or SessionNoLongerActive.
    """
    if type(minutes) is not int or not (
        MIN_EXTEND_EXPIRY_MINUTES <= minutes <= MAX_EXTEND_EXPIRY_MINUTES
    ):
        raise ValidationError(
            {
                "minutes": f"Must be a whole number of minutes from {MIN_EXTEND_EXPIRY_MINUTES} "
                f"to {MAX_EXTEND_EXPIRY_MINUTES}."
            }
        )
    now = now or timezone.now()
    with transaction.atomic():
        locked = lock_for_update(session)
        if locked.order.is_paid:
            raise SessionAlreadyPaid(f"Session {locked.public_id} is already paid.")
        # An expired session stays expired: its merchant may already have been told so.
        if not locked.is_active_at(now):
            raise SessionNoLongerActive(f"Session {locked.public_id} has expired.")
        locked.expires_at += timedelta(minutes=minutes)
        locked.save(update_fields=["expires_at"])
        record_event(
            session=locked,
            kind=EventKind.EXPIRY_EXTENDED,
            actor=actor,
            data={"minutes": minutes, "expires_at": locked.expires_at.isoformat()},
        )
        enqueue_with_transaction(partial(schedule_session_expiry, locked.pk))
    session.expires_at = locked.expires_at
    return session


# --- Hosted checkout: customer details and payment ------------------------------------------

# Session fields the details step may write (the form's cleaned data uses these names).
CUSTOMER_DETAIL_FIELDS = (
    "customer_email",
    "customer_phone",
    "customer_country",
    "customer_postal_code",
    "shipping_name",
    "shipping_line1",
    "shipping_line2",
    "shipping_city",
    "shipping_state",
    "shipping_postal_code",
    "shipping_country",
)
# What each required field group needs before the customer may pay.
REQUIRED_DETAIL_FIELDS = {
    "phone": ("customer_phone",),
    "location": ("customer_country", "customer_postal_code"),
    "shipping_address": (
        "shipping_name",
        "shipping_line1",
        "shipping_city",
        "shipping_postal_code",
        "shipping_country",
    ),
}


class CheckoutClosed(Exception):
    """The session can no longer take details or a payment."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason  # "paid" or "expired"


class PaymentOutcomeKind(StrEnum):
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    ALREADY_PAID = "already_paid"
    EXPIRED = "expired"
    UNAVAILABLE = "unavailable"  # no processor for the session's mode (live without one)
    PROCESSOR_ERROR = "processor_error"  # outcome unknown; not an attempt, safe to retry
    DETAILS_MISSING = "details_missing"
    IN_PROGRESS = "in_progress"  # another request is charging this order; nothing was tried
    BLOCKED = "blocked"  # a card-testing limit refused it; the processor was not asked


PAYMENT_IN_PROGRESS_MESSAGE = (
    "A payment for this order is already being processed. "
    "Wait a moment, then reload this page to see its result."
)
# How long saving details waits for the session's lock. Writers other than a payment hold it
# for milliseconds; a payment holds it for its whole processor call, which the customer's
# details must not wait for (each waiting request holds an app worker).
DETAILS_LOCK_MAX_WAIT = timedelta(seconds=1)


@dataclass(frozen=True)
class PaymentOutcome:
    kind: PaymentOutcomeKind
    session: CheckoutSession
    code: str = ""
    decline_code: str = ""
    message: str = ""  # safe to show the customer
    block: PaymentBlock | None = None  # the limit, when BLOCKED

    @property
    def succeeded(self) -> bool:
        return self.kind == PaymentOutcomeKind.SUCCEEDED


def _apply_context(session: CheckoutSession, context: CustomerContext) -> list[str]:
    session.ip_address = context.ip_address
    session.user_agent = context.user_agent[:500]
    session.device_type = context.device_type
    return ["ip_address", "user_agent", "device_type"]


def missing_details(session: CheckoutSession) -> list[str]:
    """Required detail groups (``email``, ``phone``, …) the session does not have yet."""
    required = effective_settings(session).required_fields
    missing = [] if session.customer_email else ["email"]
    return missing + [
        group
        for group in required.names
        if not all(getattr(session, field) for field in REQUIRED_DETAIL_FIELDS[group])
    ]


def save_customer_details(
    *, session: CheckoutSession, details: Mapping[str, str], context: CustomerContext
) -> CheckoutSession:
    """Store step 1 (email and required fields) plus context; record ``details_provided``.

    Raises ValidationError for unknown or missing fields, CheckoutClosed when the session is
    paid or expired, SessionLocked when a payment of the session is under way.
    """
    if unknown := set(details) - set(CUSTOMER_DETAIL_FIELDS):
        raise ValidationError(f"Unknown detail fields: {sorted(unknown)}")
    details = dict(details)
    if details.get("customer_email"):
        # The one stored form, whatever the caller did: the portal matches it exactly.
        try:
            details["customer_email"] = canonical_email(details["customer_email"])
        except ValidationError as error:
            raise ValidationError({"customer_email": error.messages}) from None
    with transaction.atomic():
        locked = lock_for_update(session, max_wait=DETAILS_LOCK_MAX_WAIT)
        if locked.order.is_paid:
            raise CheckoutClosed("paid")
        if not locked.is_active:
            raise CheckoutClosed("expired")
        if locked.customer_email_fixed:
            # The merchant gave the email: whatever the customer sends, it stays (as on Stripe).
            details = {
                field: value for field, value in details.items() if field != "customer_email"
            }
        for field, value in details.items():
            setattr(locked, field, value)
        if missing := missing_details(locked):
            raise ValidationError({group: "This field is required." for group in missing})
        locked.details_provided_at = timezone.now()
        locked.save(
            update_fields=[*details, "details_provided_at", *_apply_context(locked, context)]
        )
        provided = ["email"] + [
            group
            for group, fields in REQUIRED_DETAIL_FIELDS.items()
            if all(getattr(locked, field) for field in fields)
        ]
        # Which fields, never their values: the timeline is read by every merchant user.
        record_event(
            session=locked,
            kind=EventKind.DETAILS_PROVIDED,
            actor=Actor.customer(),
            data={"fields": provided},
        )
    return locked


def payment_idempotency_key(session: CheckoutSession, *, attempt: int, card: CardDetails) -> str:
    """The processor's idempotency key: the session, the attempt and a fingerprint of the card.

    A retried request for one attempt with the same card can never charge twice; another card
    after an outage gets its own key, because processors reject a reused key whose parameters
    changed. The fingerprint is an HMAC (SECRET_KEY) of number + expiry, never the number.
    """
    card_fingerprint = salted_hmac(
        "checkout.payment_idempotency_key",
        f"{card.number}:{card.exp_month:02d}/{card.exp_year}",
        algorithm="sha256",
    ).hexdigest()[:16]
    return f"{session.public_id}:attempt:{attempt}:card:{card_fingerprint}"


def pay_checkout_session(
    *, session: CheckoutSession, card: CardDetails, context: CustomerContext
) -> PaymentOutcome:
    """Charge the session's order with ``card``, at most once ever, and record the outcome.

    A payment of the same session already under way (another tab, a double click) is not
    waited for: the outcome is IN_PROGRESS at once, with no attempt and no event. Past a
    card-testing limit (``checkout.card_testing``) the outcome is BLOCKED and the processor
    is not called.
    """
    processor = processor_for_mode(session.mode)
    if processor is None:
        return PaymentOutcome(PaymentOutcomeKind.UNAVAILABLE, session)
    # Committed before the session's transaction: every server counts it during the charge.
    claim = claim_attempt(session=session, ip_address=context.ip_address)
    try:
        return _pay_locked(
            session=session, processor=processor, card=card, context=context, claim=claim
        )
    except SessionLocked:
        release_claim(claim)
        # Waiting would hold this app worker for the other request's whole processor call;
        # a burst of clicks on one session would then hold every worker. The holder is nearly
        # always a payment; in the rare case it is a writer of milliseconds (an expiry
        # extension, the expiry task, saved details) the customer simply pays again.
        return PaymentOutcome(
            PaymentOutcomeKind.IN_PROGRESS, session, message=PAYMENT_IN_PROGRESS_MESSAGE
        )


def _pay_locked(
    *,
    session: CheckoutSession,
    processor: PaymentProcessor,
    card: CardDetails,
    context: CustomerContext,
    claim: AttemptClaim | PaymentBlock,
) -> PaymentOutcome:
    with transaction.atomic():
        locked = lock_for_update(session, max_wait=timedelta(0))
        order = locked.order
        # Re-checked under the lock: another tab, a double click or another server may have
        # paid this order since the page was rendered.
        if order.is_paid:
            release_claim(claim)
            return PaymentOutcome(PaymentOutcomeKind.ALREADY_PAID, locked)
        if not locked.is_active:
            release_claim(claim)
            return PaymentOutcome(PaymentOutcomeKind.EXPIRED, locked)
        if locked.details_provided_at is None or missing_details(locked):
            release_claim(claim)
            return PaymentOutcome(PaymentOutcomeKind.DETAILS_MISSING, locked)
        # The session's own limit first (it is final); then the client's, refused at claiming.
        block = session_block(locked) or (claim if isinstance(claim, PaymentBlock) else None)
        if block is not None:
            release_claim(claim)
            record_block(session=locked, block=block)
            return PaymentOutcome(
                PaymentOutcomeKind.BLOCKED, locked, message=block.customer_message, block=block
            )

        attempt = locked.failed_attempts + 1
        try:
            result = processor.charge(
                amount=order.amount_total,
                currency=order.currency,
                card=card,
                idempotency_key=payment_idempotency_key(locked, attempt=attempt, card=card),
                description=f"Order #{order.number}",
            )
        except ProcessorUnavailable as error:
            # Not a decline and not an attempt: retrying with the same card reuses this
            # attempt's idempotency key, so if the charge did go through, the processor returns
            # it instead of charging again. The customer's click caused it: they are the actor.
            record_event(
                session=locked,
                kind=EventKind.PAYMENT_ERROR,
                actor=Actor.customer(),
                data={"attempt": attempt, "error": str(error)[:500]},
            )
            settle_claim(claim, PaymentAttempt.Outcome.ERROR)
            return PaymentOutcome(
                PaymentOutcomeKind.PROCESSOR_ERROR,
                locked,
                code="processing_error",
                message="We could not reach the card network. Try again in a moment.",
            )
        locked.payment_method_brand = result.brand[:20]
        locked.payment_method_last4 = result.last4 or card.last4
        update_fields = [
            "payment_method_brand",
            "payment_method_last4",
            *_apply_context(locked, context),
        ]

        if not result.success:
            locked.failed_attempts = attempt
            locked.save(update_fields=[*update_fields, "failed_attempts"])
            record_event(
                session=locked,
                kind=EventKind.PAYMENT_FAILED,
                actor=Actor.customer(),
                data={
                    "code": result.code,
                    "decline_code": result.decline_code,
                    "message": result.message,
                    "brand": locked.payment_method_brand,
                    "last4": locked.payment_method_last4,
                    "attempt": attempt,
                },
            )
            # A card tester must not learn which cards are live: only a first decline, from a
            # client with no other recent one, outside an alarm, gets the specific message.
            specific = record_decline(claim=claim, session=locked, attempt=attempt)
            return PaymentOutcome(
                PaymentOutcomeKind.DECLINED,
                locked,
                code=result.code,
                decline_code=result.decline_code,
                message=customer_decline_message(result.message, specific=specific),
            )

        order.payment_status = PaymentStatus.PAID
        order.paid_at = timezone.now()
        order.payment_reference = result.reference[:100]
        order.payment_method_brand = locked.payment_method_brand
        order.payment_method_last4 = locked.payment_method_last4
        order.customer_email = locked.customer_email
        order.save(
            update_fields=[
                "payment_status",
                "paid_at",
                "payment_reference",
                "payment_method_brand",
                "payment_method_last4",
                "customer_email",
            ]
        )
        settle_claim(claim, PaymentAttempt.Outcome.SUCCEEDED)
        # Copied in the same transaction: the status rule reads the session's own columns.
        locked.is_paid = True
        locked.save(update_fields=[*update_fields, "is_paid"])
        record_event(
            session=locked,
            kind=EventKind.PAYMENT_SUCCEEDED,
            actor=Actor.customer(),
            data={
                "reference": order.payment_reference,
                "brand": order.payment_method_brand,
                "last4": order.payment_method_last4,
                "amount": order.amount_total,
                "currency": order.currency,
            },
        )
        # After commit, and robust: a failing mail server or queue must never undo a payment.
        enqueue_with_transaction(partial(send_receipt_task.enqueue, locked.public_id))
    return PaymentOutcome(PaymentOutcomeKind.SUCCEEDED, locked)


# --- Dashboard actions: recover a sale, resend a receipt --------------------------------------

# A recovery link is read from an inbox, hours later: it lives as long as a session may (24 h).
RECOVERY_EXPIRES_IN_MINUTES = MAX_EXPIRES_IN_MINUTES


class RecoveryRefused(Exception):
    """The session cannot be recovered; ``str(error)`` says why, in words for the merchant."""

    def __init__(self, message: str, *, reason: str):
        super().__init__(message)
        self.reason = reason  # paid, open, no_email, already_recovered, too_soon


class RecoveryEmailTooSoon(RecoveryRefused):
    """A recovery email for this session went out less than 24 h ago, or is still on its way
    (tried again after the mail server failed for now)."""

    def __init__(self, last_email: RecoveryEmail):
        if last_email.retrying:
            last = (
                f"A recovery email asked for {last_email.sent_at:%b %-d, %Y at %H:%M} UTC by "
                f"{last_email.sent_by} is still on its way: the mail server could not take it "
                "yet, and it is tried again until its link expires."
            )
        else:
            last = (
                f"A recovery email already went out "
                f"{last_email.sent_at:%b %-d, %Y at %H:%M} UTC, sent by {last_email.sent_by}."
            )
        super().__init__(
            f"{last} The next one can go out after "
            f"{last_email.next_allowed_at:%b %-d, %Y at %H:%M} UTC; you can still send the link "
            "from your own email.",
            reason="too_soon",
        )
        self.last_email = last_email


@dataclass(frozen=True)
class Recovery:
    """A recovery: the session recovered, the fresh session offered to the customer, and
    whether we email it (else the merchant sends it, e.g. through ``recovery_mailto``)."""

    recovered: CheckoutSession
    session: CheckoutSession
    emailed: bool


def _refuse_unrecoverable(session: CheckoutSession, now: datetime) -> None:
    status = CheckoutSession.objects.with_status(now).values_list("status", flat=True)
    status = status.get(pk=session.pk)
    if session.order.is_paid or status == SessionStatus.SUCCEEDED:
        raise RecoveryRefused(
            f"Session {session.public_id} is paid: there is no sale to recover.", reason="paid"
        )
    if status == SessionStatus.OPEN:
        raise RecoveryRefused(
            f"Session {session.public_id} is still open and no payment has failed: the "
            "customer may still be paying.",
            reason="open",
        )
    if not session.customer_email:
        raise RecoveryRefused(
            f"Session {session.public_id} has no customer email to send a new link to.",
            reason="no_email",
        )
    if (paid := paid_recovery(session)) is not None:
        raise RecoveryRefused(
            f"The customer already paid recovery session {paid.public_id} "
            f"(order #{paid.order.number}).",
            reason="already_recovered",
        )


def recover_session(
    *,
    session: CheckoutSession,
    actor: Actor,
    send_email: bool,
) -> Recovery:
    """Offer the customer of a failed session (or an expired one with an email) a fresh
    checkout session for the same items, emailed by us (``send_email``) or not.

    The new session (source ``recovery``, ``recovered_from`` the old one) has the old one's org,
    mode, currency, items, customer email, metadata, and the success / callback URLs and
    required fields of its session and payment link; it lives 24 h. The old session records
    ``recovered_by`` naming the new one and the actor; a failed session still open closes (its
    ``expires_at`` becomes now), so the customer cannot pay both. Raises RecoveryRefused (paid,
    open without a failed attempt, no email, a recovery already paid), RecoveryEmailTooSoon
    (``send_email`` within 24 h of the last recovery email), ValidationError or
    PaymentsUnavailable from ``create_checkout_session``.
    """
    now = timezone.now()
    with transaction.atomic():
        # Under the session's lock: two merchants clicking at once send one email, not two.
        locked = lock_for_update(session)
        _refuse_unrecoverable(locked, now)
        last = last_recovery_email(locked) if send_email else None
        if last is not None and now < last.next_allowed_at:
            raise RecoveryEmailTooSoon(last)
        link = locked.payment_link
        new_session = create_checkout_session(
            org=locked.org,
            mode=locked.mode,
            source=SessionSource.RECOVERY,
            actor=actor,
            items=[
                LineItem(name=item.name, quantity=item.quantity, unit_price=item.unit_price)
                for item in locked.order.items.all()
            ],
            currency=locked.order.currency,
            customer_email=locked.customer_email,
            # The session's and its link's overrides: the link itself may be deactivated since.
            success_url=locked.success_url or (link.success_url if link else ""),
            callback_url=locked.callback_url or (link.callback_url if link else ""),
            required_fields=RequiredFieldSet.of(locked) | RequiredFieldSet.of(link),
            expires_in_minutes=RECOVERY_EXPIRES_IN_MINUTES,
            metadata=locked.metadata,
            recovered_from=locked,
            now=now,
        )
        # (A backdated ``now`` before the session's creation has no window to close.)
        closed_window = locked.is_active_at(now) and now > locked.created_at
        if closed_window:
            locked.expires_at = now
            locked.save(update_fields=["expires_at"])
            enqueue_with_transaction(partial(schedule_session_expiry, locked.pk))
        record_event(
            session=locked,
            kind=EventKind.RECOVERED_BY,
            actor=actor,
            data={
                "recovery_session": new_session.public_id,
                "emailed": send_email,
                "to": locked.customer_email,
                "closed_window": closed_window,
            },
        )
        if send_email:
            enqueue_with_transaction(
                partial(
                    send_recovery_email_task.enqueue,
                    new_session.public_id,
                    actor.as_task_argument(),
                )
            )
    return Recovery(recovered=locked, session=new_session, emailed=send_email)


class ReceiptUnavailable(Exception):
    """The session has no receipt to send: it is unpaid, or its order has no email."""


def resend_receipt(*, session: CheckoutSession, actor: Actor) -> None:
    """Send a paid session's receipt again, through the task queue; its ``receipt_sent`` (or
    ``receipt_failed``) event names ``actor``. Raises ReceiptUnavailable when unpaid or no
    email."""
    order = session.order
    if not order.is_paid:
        raise ReceiptUnavailable(f"Session {session.public_id} is not paid: it has no receipt.")
    if not order.customer_email:
        raise ReceiptUnavailable(f"Order #{order.number} has no customer email to send it to.")
    with transaction.atomic():
        enqueue_with_transaction(
            partial(send_receipt_task.enqueue, session.public_id, actor.as_task_argument())
        )
