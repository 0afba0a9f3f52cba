"""Checkout sessions, their orders and line items, and the append-only session timeline.

A session has no stored status: its paid flag (the order's, copied in the paying transaction),
the failed attempt count and the expiry time decide it, through
``CheckoutSessionQuerySet.with_status`` (one rule, in SQL, on the session's own columns).
"""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from checkout.choices import (
    ActorKind,
    BlockLimit,
    DeviceType,
    EventKind,
    PaymentStatus,
    SessionSource,
)
from checkout.queries import (
    CallbackDeliveryQuerySet,
    CheckoutSessionQuerySet,
    DeclineAlarmQuerySet,
    OrderQuerySet,
    TimelineEventQuerySet,
)
from orgs.emails import CanonicalEmailField
from orgs.ids import new_public_id
from orgs.models import Mode, Organization, PaymentLink, RequiredFields

# Bounds of a session's lifetime (SPEC: expiresInMinutes 15–1440, default 60).
MIN_EXPIRES_IN_MINUTES = 15
MAX_EXPIRES_IN_MINUTES = 1440
DEFAULT_EXPIRES_IN_MINUTES = 60


def new_order_id() -> str:
    return new_public_id("ord")


class OrderCounter(models.Model):
    """The last order number handed out per organization (row-locked while numbering)."""

    org = models.OneToOneField(Organization, on_delete=models.CASCADE, primary_key=True)
    last_number = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.org_id}: {self.last_number}"


class Order(models.Model):
    """The cart and, once paid, the receipt. Permanent."""

    public_id = models.CharField("ID", max_length=64, default=new_order_id, editable=False)
    # Indexed by the composites below, which start with the org.
    org = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="orders", db_index=False
    )
    mode = models.CharField(max_length=4, choices=Mode.choices)
    number = models.PositiveBigIntegerField(help_text="Sequential per organization.")
    currency = models.CharField(max_length=3)
    amount_total = models.BigIntegerField(help_text="In the currency's minor unit.")
    payment_status = models.CharField(
        max_length=6, choices=PaymentStatus.choices, default=PaymentStatus.UNPAID
    )
    paid_at = models.DateTimeField(null=True, blank=True)
    customer_email = CanonicalEmailField(max_length=254, blank=True)
    payment_reference = models.CharField(max_length=100, blank=True)
    payment_method_brand = models.CharField(max_length=20, blank=True)
    payment_method_last4 = models.CharField(max_length=4, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = OrderQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["org", "mode", "-created_at", "-id"], name="order_org_mode_created"
            ),
            # The dashboard's Orders list opens on the paid ones: their own keyset index, so no
            # number of unpaid carts (a burst of abandoned or card-testing sessions) is read
            # and thrown away before the first page.
            models.Index(
                fields=["org", "mode", "-created_at", "-id"],
                condition=Q(payment_status=PaymentStatus.PAID),
                name="order_paid_created",
            ),
            # The portal's exact match and the orders search's prefix match (LIKE 'x%': the
            # pattern opclass on PostgreSQL; other databases ignore opclasses).
            models.Index(
                fields=["org", "mode", "customer_email"],
                opclasses=["int8_ops", "text_ops", "text_pattern_ops"],
                name="order_org_mode_email",
            ),
        ]
        constraints = [
            # A plain unique index (unique=True would add a LIKE index on PostgreSQL, unused).
            models.UniqueConstraint(fields=["public_id"], name="order_unique_public_id"),
            models.UniqueConstraint(fields=["org", "number"], name="order_unique_org_number"),
            models.CheckConstraint(condition=Q(amount_total__gte=0), name="order_amount_gte_0"),
            # Paid ⇔ paid_at is set: a paid order without a time (or vice versa) is corrupt.
            models.CheckConstraint(
                condition=Q(payment_status=PaymentStatus.PAID, paid_at__isnull=False)
                | Q(payment_status=PaymentStatus.UNPAID, paid_at__isnull=True),
                name="order_paid_has_paid_at",
            ),
        ]

    def __str__(self) -> str:
        return f"Order #{self.number} ({self.public_id})"

    @property
    def is_paid(self) -> bool:
        return self.payment_status == PaymentStatus.PAID

    @property
    def is_test_mode(self) -> bool:
        """A test-mode order: nothing was (or will be) charged for real."""
        return self.mode == Mode.TEST


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    name = models.CharField(max_length=250)
    quantity = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    unit_price = models.BigIntegerField(validators=[MinValueValidator(0)])
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="item_quantity_gte_1"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="item_unit_price_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.name}"

    @property
    def amount(self) -> int:
        return self.quantity * self.unit_price


class CheckoutSession(RequiredFields):
    """The payment window for one order; active while ``expires_at > now``.

    ``require_*`` (from RequiredFields) are this session's additions to the required fields;
    they OR-merge with the link's and org's (see ``checkout.effective_settings``).
    """

    public_id = models.CharField("ID", max_length=64, editable=False)
    org = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="checkout_sessions", db_index=False
    )
    mode = models.CharField(max_length=4, choices=Mode.choices)
    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="session")
    # Indexed by session_payment_link_status below, which starts with it.
    payment_link = models.ForeignKey(
        PaymentLink,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sessions",
        db_index=False,
    )
    source = models.CharField(max_length=20, choices=SessionSource.choices)
    recovered_from = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="recoveries",
        db_index=False,  # a partial index below: most sessions recover nothing
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    failed_attempts = models.PositiveIntegerField(default=0)
    # The card-testing limit that first refused a payment of this session (``checkout.
    # card_testing``; the timeline's ``payment_blocked`` event has the counts). See blocked_by.
    payment_blocked = models.CharField(
        max_length=20, choices=BlockLimit.choices, blank=True, editable=False
    )
    # Set when the merchant gave the customer's email at creation: the customer can't change it.
    customer_email_fixed = models.BooleanField(default=False, editable=False)
    # The order's paid flag, copied in the transaction that pays it (the order stays the truth),
    # so the status rule, its filters and counts read this table only.
    is_paid = models.BooleanField(default=False, editable=False)

    # Per-session overrides (the most specific layer of the settings hierarchy).
    success_url = models.URLField(max_length=2000, blank=True)
    callback_url = models.URLField(max_length=2000, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    # The customer's details, as entered on the hosted page (or given by the API).
    customer_email = CanonicalEmailField(max_length=254, blank=True)
    customer_phone = models.CharField(max_length=40, blank=True)
    customer_country = models.CharField(max_length=2, blank=True)
    customer_postal_code = models.CharField(max_length=20, blank=True)
    shipping_name = models.CharField(max_length=200, blank=True)
    shipping_line1 = models.CharField(max_length=200, blank=True)
    shipping_line2 = models.CharField(max_length=200, blank=True)
    shipping_city = models.CharField(max_length=100, blank=True)
    shipping_state = models.CharField(max_length=100, blank=True)
    shipping_postal_code = models.CharField(max_length=20, blank=True)
    shipping_country = models.CharField(max_length=2, blank=True)
    details_provided_at = models.DateTimeField(null=True, blank=True)

    # Context captured from the customer's browser and card.
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    device_type = models.CharField(max_length=10, choices=DeviceType.choices, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    payment_method_brand = models.CharField(max_length=20, blank=True)
    payment_method_last4 = models.CharField(max_length=4, blank=True)

    objects = CheckoutSessionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The dashboard list and the API list: newest first within an org and mode (keyset).
            models.Index(
                fields=["org", "mode", "-created_at", "-id"], name="session_org_mode_created"
            ),
            # One per status tab, so each tab's pages are an index scan of its own rows.
            models.Index(
                fields=["org", "mode", "-created_at", "-id"],
                condition=Q(is_paid=True),
                name="session_succeeded_created",
            ),
            models.Index(
                fields=["org", "mode", "-created_at", "-id"],
                condition=Q(is_paid=False, failed_attempts__gt=0),
                name="session_failed_created",
            ),
            models.Index(
                fields=["org", "mode", "-created_at", "-id"],
                condition=Q(is_paid=False, failed_attempts=0),
                name="session_unattempted_created",
            ),
            # Sessions with a declined attempt, paid in the end or not: the list filtered to a
            # decline reason walks these newest first, looking up each one's declines.
            models.Index(
                fields=["org", "mode", "-created_at", "-id"],
                condition=Q(failed_attempts__gt=0),
                name="session_declined_created",
            ),
            # Sessions not finished yet (expires_at after the rollup's watermark), per org, and
            # the rollup's own range scan (expires_at in (old, new watermark]).
            # Covering: the live count (and the funnel's details step) reads status columns
            # from the index alone.
            models.Index(
                fields=["org", "mode", "expires_at"],
                include=["is_paid", "failed_attempts", "created_at", "details_provided_at"],
                name="session_org_mode_expires",
            ),
            # The unfinished sessions that had a declined attempt (ids, from the index alone):
            # the decline reasons not yet in the rollup, without the other unfinished sessions.
            models.Index(
                fields=["org", "mode", "expires_at"],
                include=["created_at", "is_paid", "id"],
                condition=Q(failed_attempts__gt=0),
                name="session_declined_expires",
            ),
            models.Index(fields=["expires_at"], name="session_expires_at"),
            # A payment link's sessions, newest first (its page, the list filtered by link),
            # and its sessions by outcome (the Payment links list, one grouped query):
            # covering, so counting never reads the table. Partial: API sessions have no link.
            models.Index(
                fields=["payment_link", "-created_at", "-id"],
                include=["is_paid", "failed_attempts", "expires_at"],
                condition=Q(payment_link__isnull=False),
                name="session_payment_link_status",
            ),
            models.Index(
                fields=["recovered_from"],
                condition=Q(recovered_from__isnull=False),
                name="session_recovered_from",
            ),
            # The retention job (``checkout.erasure``): sessions still holding an IP address or
            # user agent, oldest first. Dropped ones leave the index, so each batch reads only
            # what it changes.
            models.Index(
                fields=["created_at"],
                condition=Q(ip_address__isnull=False) | ~Q(user_agent=""),
                name="session_context_created",
            ),
            # Email search, exact or prefix (LIKE 'x%'), on the stored canonical address.
            # Covering: a search's tab counts (a common prefix matches thousands) read the
            # status columns from the index alone.
            models.Index(
                fields=["org", "mode", "customer_email"],
                opclasses=["int8_ops", "text_ops", "text_pattern_ops"],
                include=["is_paid", "failed_attempts", "expires_at"],
                name="session_org_mode_email",
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["public_id"], name="session_unique_public_id"),
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("created_at")), name="session_expires_after_created"
            ),
            models.CheckConstraint(
                condition=Q(public_id__startswith="cs_test_") | Q(public_id__startswith="cs_live_"),
                name="session_public_id_has_mode",
            ),
        ]

    def __str__(self) -> str:
        return self.public_id

    def is_active_at(self, now) -> bool:
        """The session's window is open at ``now`` (the SQL form is ``queries.active_q``)."""
        return self.expires_at > now

    @property
    def is_active(self) -> bool:
        return self.is_active_at(timezone.now())

    @property
    def declines_exhausted(self) -> bool:
        """The session used up its declines (``CARD_TESTING_DECLINES_PER_SESSION``): it takes
        no more cards, and its page says so."""
        maximum = settings.CARD_TESTING_DECLINES_PER_SESSION
        return maximum > 0 and self.failed_attempts >= maximum

    @property
    def blocked_by(self) -> str:
        """The card-testing limit that stops this session's payments (its declines used up) or
        refused one of them (``payment_blocked``); empty when none did. What the dashboard
        flags as "Blocked"."""
        if self.declines_exhausted:
            return BlockLimit.SESSION_DECLINES
        return self.payment_blocked

    @property
    def location(self) -> str:
        return " ".join(p for p in (self.customer_postal_code, self.customer_country) if p)

    @property
    def email_given_by_merchant(self) -> bool:
        """The merchant gave the customer's email when creating the session (the API's
        ``customerEmail``): the hosted page shows it fixed and never changes it (as Stripe does)."""
        return self.customer_email_fixed


class SessionRollup(models.Model):
    """How many finished sessions (``expires_at`` at or before the watermark) an org has, per
    mode, day of creation (UTC) and final status. A finished session can never change status
    (paying, declining and extending all need ``expires_at > now`` under the row lock), so
    counts are this table plus a live count of the unfinished rest (``checkout.rollup``)."""

    org = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    mode = models.CharField(max_length=4, choices=Mode.choices)
    day = models.DateField()
    status = models.CharField(max_length=10)
    count = models.PositiveBigIntegerField(default=0)
    # Of those, the sessions whose customer provided their details (the funnel's second step;
    # "payment attempted" and "paid" follow from the status).
    details_provided = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["org", "mode", "day", "status"], name="rollup_unique_org_mode_day_status"
            )
        ]

    def __str__(self) -> str:
        return f"{self.org_id} {self.mode} {self.day} {self.status}: {self.count}"


class DeclineRollup(models.Model):
    """The declined payment attempts of finished sessions, per org, mode, day of the session's
    creation (UTC) and reason (``decline_code``, else ``code``): advanced and rebuilt with
    ``SessionRollup`` up to the same watermark (a finished session gets no more attempts)."""

    org = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    mode = models.CharField(max_length=4, choices=Mode.choices)
    day = models.DateField()
    # As the processor sent it: any length (a live processor's codes are not ours to bound).
    reason = models.TextField()
    declines = models.PositiveBigIntegerField(default=0)
    sessions = models.PositiveBigIntegerField(default=0)  # with at least one such decline
    paid_sessions = models.PositiveBigIntegerField(default=0)  # of those, paid in the end

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["org", "mode", "day", "reason"], name="decline_rollup_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.org_id} {self.mode} {self.day} {self.reason}: {self.declines}"


class RollupWatermark(models.Model):
    """The one row saying up to which ``expires_at`` sessions are counted in the rollups."""

    finished_before = models.DateTimeField()

    def __str__(self) -> str:
        return f"sessions finished by {self.finished_before.isoformat()}"


class TimelineEvent(models.Model):
    """One step in a session's history. Append-only: never updated or deleted by the app."""

    # Indexed by (session, created_at) below.
    session = models.ForeignKey(
        CheckoutSession, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    kind = models.CharField(max_length=30, choices=EventKind.choices)
    created_at = models.DateTimeField(default=timezone.now)
    actor_kind = models.CharField(max_length=10, choices=ActorKind.choices)
    # What to show for the actor ("demo", "sk_test_Ab3d…wxyz", "customer"), kept even if the
    # user or key is deleted later.
    actor_label = models.CharField(max_length=150, blank=True)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_index=False,  # a partial index below
    )
    data = models.JSONField(default=dict, blank=True)

    objects = TimelineEventQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["session", "created_at"], name="event_session_created"),
            # The top decline reasons: the declines of a period's sessions, without reading
            # their other events (a few per session) or every org's declines.
            models.Index(
                fields=["session"],
                condition=Q(kind=EventKind.PAYMENT_FAILED),
                name="event_payment_failed",
            ),
            # Events a merchant user did (most are the customer's or the system's).
            models.Index(
                fields=["actor_user"],
                condition=Q(actor_user__isnull=False),
                name="event_actor_user",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.session_id})"


class CallbackDelivery(models.Model):
    """One callback event for a merchant endpoint, with its delivery attempts so far.

    Its ``public_id`` is the Standard Webhooks ``webhook-id``: the same on every retry,
    so receivers can deduplicate.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed (gave up)"

    public_id = models.CharField(max_length=64, editable=False)
    session = models.ForeignKey(
        CheckoutSession, on_delete=models.CASCADE, related_name="callback_deliveries"
    )
    # The session's org and mode, copied (they never change), so that the dashboard's
    # deliveries log of one org and mode is one range of callback_org_mode_created.
    org = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", db_index=False, editable=False
    )
    mode = models.CharField(max_length=4, choices=Mode.choices, editable=False)
    event_type = models.CharField(max_length=60)
    url = models.URLField(max_length=2000)
    payload = models.TextField(help_text="The exact JSON body sent on every attempt.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    objects = CallbackDeliveryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "callback deliveries"
        ordering = ["-created_at"]
        indexes = [
            # The recovery sweep's overdue pending deliveries; ended ones are never looked up so.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="callback_pending_due",
            ),
            # The dashboard's deliveries log, newest first, keyset-paginated.
            models.Index(
                "org",
                "mode",
                F("created_at").desc(),
                F("id").desc(),
                name="callback_org_mode_created",
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["public_id"], name="callback_unique_public_id")
        ]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.url}"

    def save(self, *args, **kwargs) -> None:
        # The copies of the session's org and mode can't be forgotten by any writer.
        if self.org_id is None or not self.mode:
            self.org_id, self.mode = self.session.org_id, self.session.mode
        super().save(*args, **kwargs)

    @property
    def can_be_redelivered(self) -> bool:
        """Failed (gave up) and pending deliveries can be sent again now; delivered ones not."""
        return self.status != self.Status.DELIVERED


class IdempotencyRecord(models.Model):
    """The first response to an API request made with an ``Idempotency-Key`` (kept 24 h)."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, db_index=False)
    mode = models.CharField(max_length=4, choices=Mode.choices)
    key = models.CharField(max_length=255)
    request_fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["org", "mode", "key"], name="idempotency_unique_key")
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created")]

    def __str__(self) -> str:
        return self.key

    @property
    def is_complete(self) -> bool:
        return self.response_status is not None


# --- Hardening: what the abuse limits count (kept a day; see checkout.card_testing,
# checkout.link_guard and checkout.api.throttling). Not part of any session's history: the
# timeline records what a merchant needs (``payment_failed``, ``payment_blocked``).


class PaymentAttempt(models.Model):
    """One call to the processor, claimed before it is made, for the card-testing limits.

    Claimed ``pending`` (committed at once, so every app server counts it while the charge is
    under way), then ``declined``, ``succeeded`` or ``error`` with the payment's transaction.
    Pruned after a day (``checkout.upkeep``): the limits look back an hour at most.
    """

    class Outcome(models.TextChoices):
        PENDING = "pending", "Pending"
        DECLINED = "declined", "Declined"
        SUCCEEDED = "succeeded", "Succeeded"
        ERROR = "error", "Processor error"

    org = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    mode = models.CharField(max_length=4, choices=Mode.choices)
    # No database constraint: checking one would take a KEY SHARE lock on the session's row,
    # which a payment under way holds FOR UPDATE, and a second Pay must claim and then be
    # refused at once (NOWAIT), not wait behind the first's processor call. Django still
    # deletes the claims with their session.
    session = models.ForeignKey(
        CheckoutSession,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    # The client's address, IPv6 cut to its /64 (one subscriber's network); "" when unknown.
    ip_key = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.PENDING)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # Declines (and charges under way) per client IP in the last hour.
            models.Index(
                fields=["ip_key", "created_at"],
                condition=Q(outcome__in=["pending", "declined"]),
                name="attempt_ip_counted",
            ),
            # The org's velocity alarm: its declines in the last minutes.
            models.Index(
                fields=["org", "mode", "created_at"],
                condition=Q(outcome="declined"),
                name="attempt_org_declined",
            ),
            models.Index(fields=["created_at"], name="attempt_created"),
        ]

    def __str__(self) -> str:
        return f"{self.get_outcome_display()} ({self.ip_key or 'no IP'})"


class DeclineAlarm(models.Model):
    """The org's card-testing alarm: its declines in one mode reached
    ``CARD_TESTING_ALARM_DECLINES`` within ``CARD_TESTING_ALARM_WINDOW_MINUTES``. Raised at most
    once per window; while declines stay that high every customer sees the generic decline."""

    org = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    mode = models.CharField(max_length=4, choices=Mode.choices)
    raised_at = models.DateTimeField(default=timezone.now)
    declines = models.PositiveIntegerField(
        help_text="Declines within the window when raised (counted up to the threshold)."
    )
    window_minutes = models.PositiveIntegerField()
    # The session whose decline raised it (its timeline shows the pattern).
    session = models.ForeignKey(
        CheckoutSession, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # When the org's owners were emailed about it (live mode only; ``card_testing``).
    emailed_at = models.DateTimeField(null=True, blank=True)

    objects = DeclineAlarmQuerySet.as_manager()

    class Meta:
        ordering = ["-raised_at"]
        indexes = [models.Index(fields=["org", "mode", "raised_at"], name="alarm_org_mode_raised")]

    def __str__(self) -> str:
        return f"{self.org_id} {self.mode}: {self.declines} declines in {self.window_minutes} min"


class PaymentLinkOpen(models.Model):
    """A session opened from a payment link, by client IP: the per-IP cap's count. Pruned
    after a day."""

    link = models.ForeignKey(
        PaymentLink, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    ip_key = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["link", "ip_key", "created_at"], name="link_open_link_ip_created"),
            models.Index(fields=["created_at"], name="link_open_created"),
        ]

    def __str__(self) -> str:
        return f"{self.link_id} from {self.ip_key}"


class ApiRequestWindow(models.Model):
    """How many requests one API key made in one fixed window (``API_RATE_LIMIT_*``), counted
    by an atomic upsert. Windows over an hour old are pruned."""

    # Indexed by the unique constraint below, which starts with it.
    api_key = models.ForeignKey(
        "orgs.ApiKey", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    # Seconds since the epoch at which the window starts (a multiple of its length).
    window_start = models.BigIntegerField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["api_key", "window_start"], name="api_window_unique_key_start"
            )
        ]

    def __str__(self) -> str:
        return f"{self.api_key_id} @ {self.window_start}: {self.count}"
