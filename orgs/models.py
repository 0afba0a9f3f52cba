"""Merchants: organizations, their members, payment links and API keys.

This app knows nothing of checkout; checkout builds on it.
"""

import base64
import hashlib
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from orgs.callback_urls import validate_callback_url
from orgs.currencies import validate_currency_code
from orgs.emails import CanonicalEmailField
from orgs.ids import new_public_id
from orgs.text import validate_no_control_characters

# Bounds of one line item, for payment links here and every checkout (checkout.services).
MAX_QUANTITY = 10_000
# SPEC "Checkout sessions": a fraud flag on sessions whose failed attempts reach the org's
# threshold (default 3); 1–100 (a session can fail at most a few dozen times in practice).
DEFAULT_FRAUD_FLAG_THRESHOLD = 3
MAX_FRAUD_FLAG_THRESHOLD = 100
MAX_UNIT_PRICE = 10**10  # minor units; keeps any total far inside a 64-bit integer


class Mode(models.TextChoices):
    TEST = "test", "Test"
    LIVE = "live", "Live"


def new_callback_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` + base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


class RequiredFields(models.Model):
    """The three optional customer fields a layer can require (OR-merged across layers)."""

    require_phone = models.BooleanField(default=False)
    require_location = models.BooleanField(default=False, help_text="Country and postal code only.")
    require_shipping_address = models.BooleanField(default=False)

    class Meta:
        abstract = True


class Organization(RequiredFields):
    # Shown in receipt subjects (an email header) and pages: one line, no control characters.
    name = models.CharField(max_length=200, validators=[validate_no_control_characters])
    slug = models.SlugField(max_length=64, db_index=False)  # unique: a constraint below
    currency = models.CharField(
        max_length=3,
        default="USD",
        validators=[validate_currency_code],
        help_text="Default ISO 4217 currency code.",
    )
    success_url = models.URLField(max_length=2000, blank=True)
    callback_url = models.URLField(max_length=2000, blank=True, validators=[validate_callback_url])
    terms_url = models.URLField(max_length=2000, blank=True)
    privacy_url = models.URLField(max_length=2000, blank=True)
    support_email = CanonicalEmailField(blank=True)
    fraud_flag_threshold = models.PositiveSmallIntegerField(
        default=DEFAULT_FRAUD_FLAG_THRESHOLD,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_FRAUD_FLAG_THRESHOLD)],
        help_text="Sessions with this many failed payment attempts are flagged as possible fraud.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        # Plain unique indexes (unique=True would add an unused LIKE index on PostgreSQL).
        constraints = [
            models.UniqueConstraint(fields=["slug"], name="org_unique_slug"),
            models.CheckConstraint(
                condition=Q(fraud_flag_threshold__gte=1)
                & Q(fraud_flag_threshold__lte=MAX_FRAUD_FLAG_THRESHOLD),
                name="org_fraud_flag_threshold_1_100",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    # The SPEC's two roles: owners manage keys, secrets, settings and the team; members see
    # everything. (An unused "admin" role was folded into member: migration 0099.)
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        MEMBER = "member", "Member"

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["org", "user"], name="membership_unique_org_user"),
            models.CheckConstraint(
                condition=Q(role__in=["owner", "member"]), name="membership_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.org} ({self.role})"

    @property
    def is_owner(self) -> bool:
        return self.role == self.Role.OWNER


def new_payment_link_id() -> str:
    return new_public_id("plink")


class PaymentLink(RequiredFields):
    """A shareable URL for one product; opening it starts a checkout session."""

    public_id = models.CharField("ID", max_length=64, default=new_payment_link_id, editable=False)
    # Indexed by plink_org_mode_created, which starts with the org.
    org = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="payment_links", db_index=False
    )
    mode = models.CharField(max_length=4, choices=Mode.choices, default=Mode.TEST)
    # Becomes the order's line item name: one line, like an organization's name.
    name = models.CharField(max_length=200, validators=[validate_no_control_characters])
    description = models.TextField(blank=True)
    unit_price = models.BigIntegerField(
        # A link that charges nothing is not a checkout (a total below one minor unit); one
        # priced above what a checkout accepts could never be opened.
        validators=[MinValueValidator(1), MaxValueValidator(MAX_UNIT_PRICE)],
        help_text="In the currency's minor unit (cents); at least 1.",
    )
    quantity = models.PositiveIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(MAX_QUANTITY)]
    )
    currency = models.CharField(
        max_length=3,
        blank=True,
        validators=[validate_currency_code],
        help_text="Overrides the org default.",
    )
    success_url = models.URLField(max_length=2000, blank=True)
    callback_url = models.URLField(max_length=2000, blank=True, validators=[validate_callback_url])
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["org", "mode", "-created_at"], name="plink_org_mode_created")
        ]
        constraints = [
            models.UniqueConstraint(fields=["public_id"], name="plink_unique_public_id"),
            models.CheckConstraint(condition=Q(unit_price__gte=1), name="plink_unit_price_gte_1"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="plink_quantity_gte_1"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.public_id})"


# SPEC "Callbacks": after a rotation the old secret keeps verifying for 24 h.
CALLBACK_SECRET_GRACE = timedelta(hours=24)


class CallbackSecretQuerySet(models.QuerySet):
    def for_org(self, org: Organization, mode: str) -> "CallbackSecretQuerySet":
        return self.filter(org=org, mode=mode)

    def current(self) -> "CallbackSecretQuerySet":
        """The secret merchants' handlers should verify with now (one per org and mode)."""
        return self.filter(expires_at__isnull=True)

    def signing(self, now: datetime) -> "CallbackSecretQuerySet":
        """The current secret and the rotated ones still in their grace period, newest first."""
        return self.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now)).order_by(
            F("expires_at").desc(nulls_first=True), "-created_at", "-pk"
        )


class CallbackSecret(models.Model):
    """A callback signing secret of one org and mode (SPEC: one per mode, rotatable).

    The current secret has no ``expires_at``; rotating sets it to 24 h ahead, and until then
    callbacks carry a signature with each, so a merchant can switch without losing events.
    """

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="callback_secrets")
    mode = models.CharField(max_length=4, choices=Mode.choices)
    # Kept in clear: we need it to sign callbacks (it is a signing key, not a password).
    secret = models.CharField(max_length=100, unique=True, default=new_callback_secret)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="Set when rotated: it signs and verifies until then."
    )

    objects = CallbackSecretQuerySet.as_manager()

    class Meta:
        constraints = [
            # Lazy creation and rotation race on this: at most one current secret.
            models.UniqueConstraint(
                fields=["org", "mode"],
                condition=Q(expires_at__isnull=True),
                name="callbacksecret_one_current_per_org_mode",
            )
        ]

    def __str__(self) -> str:
        return f"{self.org} {self.mode} callback secret ({self.masked})"

    @property
    def masked(self) -> str:
        return f"whsec_…{self.secret[-4:]}"


def hash_api_key(plain_key: str) -> str:
    # Keys carry 192 bits of randomness, so a fast hash is safe here (as Stripe / GitHub do);
    # a slow KDF would only add latency to every API request.
    return hashlib.sha256(plain_key.encode()).hexdigest()


class ApiKeyQuerySet(models.QuerySet):
    def usable(self) -> "ApiKeyQuerySet":
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    """A secret key ``sk_{mode}_…`` for the JSON API; only its SHA-256 hash is stored."""

    org = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="api_keys", db_index=False
    )
    mode = models.CharField(max_length=4, choices=Mode.choices)
    # A label shown in lists and the audit log: one line, no control characters.
    name = models.CharField(max_length=100, blank=True, validators=[validate_no_control_characters])
    key_hash = models.CharField(max_length=64, editable=False)
    # Enough to recognise the key in a list ("sk_test_Ab3d…wxyz"), never enough to use it.
    prefix = models.CharField(max_length=16, editable=False)
    last4 = models.CharField(max_length=4, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["org", "mode"], name="apikey_org_mode")]
        constraints = [models.UniqueConstraint(fields=["key_hash"], name="apikey_unique_key_hash")]

    def __str__(self) -> str:
        return self.masked

    @property
    def masked(self) -> str:
        return f"{self.prefix}…{self.last4}"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class AuditEntryQuerySet(models.QuerySet):
    def for_org(self, org: Organization) -> "AuditEntryQuerySet":
        return self.filter(org=org)

    def newest_first(self) -> "AuditEntryQuerySet":
        return self.order_by("-created_at", "-id")


class AuditEntry(models.Model):
    """One change to an org's settings, links, keys, secrets or team (``orgs.audit.record``)."""

    class Action(models.TextChoices):
        SETTINGS_UPDATED = "settings.updated", "Checkout settings changed"
        SECRET_REVEALED = "callback_secret.revealed", "Callback secret revealed"
        SECRET_ROTATED = "callback_secret.rotated", "Callback secret rotated"
        TEST_CALLBACK_SENT = "callback.test_sent", "Test callback sent"
        CALLBACK_REDELIVERED = "callback.redelivered", "Callback redelivered"
        LINK_CREATED = "payment_link.created", "Payment link created"
        LINK_UPDATED = "payment_link.updated", "Payment link changed"
        LINK_DEACTIVATED = "payment_link.deactivated", "Payment link deactivated"
        LINK_REACTIVATED = "payment_link.reactivated", "Payment link reactivated"
        API_KEY_CREATED = "api_key.created", "API key created"
        API_KEY_REVOKED = "api_key.revoked", "API key revoked"
        MEMBER_INVITED = "team.invited", "Member invited"
        MEMBER_JOINED = "team.joined", "Member joined"
        ROLE_CHANGED = "team.role_changed", "Role changed"
        MEMBER_REMOVED = "team.removed", "Member removed"
        INVITATION_REVOKED = "team.invitation_revoked", "Invitation revoked"
        CUSTOMER_ERASED = "customer.erased", "Customer data erased"

    # Indexed by auditentry_org_created, which starts with the org.
    org = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="audit_entries", db_index=False
    )
    mode = models.CharField(max_length=4, choices=Mode.choices, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The actor's name when it acted: the entry keeps it after the user is deleted.
    actor = models.CharField(max_length=150)
    action = models.CharField(max_length=40, choices=Action.choices)
    target = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(
                "org",
                models.F("created_at").desc(),
                models.F("id").desc(),
                name="auditentry_org_created",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} by {self.actor}"


def invitation_max_age() -> timedelta:
    """How long an invitation link works (``INVITATION_MAX_AGE_DAYS``)."""
    return timedelta(days=settings.INVITATION_MAX_AGE_DAYS)


def new_invitation_nonce() -> str:
    return secrets.token_urlsafe(16)


class InvitationQuerySet(models.QuerySet):
    def open(self) -> "InvitationQuerySet":
        """Neither accepted nor revoked (it may still have expired: see ``pending``)."""
        return self.filter(accepted_at__isnull=True, revoked_at__isnull=True)

    def pending(self, now: datetime, max_age: timedelta) -> "InvitationQuerySet":
        """Open and still within ``max_age`` of being sent: the link works."""
        return self.open().filter(created_at__gt=now - max_age)


class Invitation(models.Model):
    """An owner's invitation of an email address to join an org with a role (``orgs.team``).

    The emailed link signs the row's id with its nonce; it works once (``accepted_at``), until
    revoked (``revoked_at``) and for ``INVITATION_MAX_AGE_DAYS``.
    """

    # Indexed by invitation_one_open_per_email and invitation_org_created, both org first.
    org = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="invitations", db_index=False
    )
    email = models.EmailField(help_text="Canonical (orgs.emails.canonical_email).")
    role = models.CharField(
        max_length=10, choices=Membership.Role.choices, default=Membership.Role.MEMBER
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Signed into the link with the id: a link names exactly one invitation row.
    nonce = models.CharField(max_length=32, default=new_invitation_nonce, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    send_error = models.CharField(max_length=300, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index("org", models.F("created_at").desc(), name="invitation_org_created")
        ]
        constraints = [
            # Inviting an address again replaces its open invitation (orgs.team.invite_member).
            models.UniqueConstraint(
                fields=["org", "email"],
                condition=Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_open_per_email",
            ),
            models.CheckConstraint(
                condition=Q(role__in=["owner", "member"]), name="invitation_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} → {self.org} ({self.role})"

    @property
    def expires_at(self) -> datetime:
        return self.created_at + invitation_max_age()


class PasswordResetRequest(models.Model):
    """One password reset request, by address and client IP: the reset limits' count (the
    address as a hash of its canonical form; the view that counts is
    ``dashboard.password_reset_limits``). Pruned after a day."""

    address_key = models.CharField(max_length=64)
    ip_key = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["address_key", "created_at"], name="reset_request_address"),
            models.Index(fields=["ip_key", "created_at"], name="reset_request_ip"),
            models.Index(fields=["created_at"], name="reset_request_created"),
        ]

    def __str__(self) -> str:
        return f"{self.address_key[:12]}… from {self.ip_key or '?'}"
