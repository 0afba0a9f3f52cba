"""Writes for organizations: checkout settings, payment links, API keys and callback secrets.

The admin, the dashboard and management commands call these, so every field rule (currency
codes, the callback URL SSRF rule, a price of at least one minor unit, no control characters
in names) holds whichever door a change comes through."""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from orgs.audit import field_changes, record
from orgs.ids import new_public_id
from orgs.models import (
    CALLBACK_SECRET_GRACE,
    ApiKey,
    AuditEntry,
    CallbackSecret,
    Mode,
    Organization,
    PaymentLink,
    hash_api_key,
)


def _settings_fields() -> list[str]:
    """The org's own columns an audit entry compares (every setting; not its id or birth)."""
    return [
        field.name
        for field in Organization._meta.concrete_fields
        if field.name not in {"id", "created_at"}
    ]


def save_organization(*, org: Organization, user: AbstractBaseUser | None = None) -> Organization:
    """Validate every field of ``org`` (ValidationError keyed by field), then save it, with
    an audit entry (``SETTINGS_UPDATED``) of the fields that changed, made by ``user``."""
    org.full_clean()
    with transaction.atomic():
        before = (
            Organization.objects.select_for_update().filter(pk=org.pk).first()
            if org.pk is not None
            else None
        )
        org.save()
        if changes := field_changes(before, org, _settings_fields()):
            record(
                org=org,
                user=user,
                action=AuditEntry.Action.SETTINGS_UPDATED,
                target=org.name,
                changes=changes,
            )
    return org


# What a payment link's audit entries compare (its activation has entries of its own).
PAYMENT_LINK_AUDITED_FIELDS = (
    "name",
    "description",
    "mode",
    "unit_price",
    "quantity",
    "currency",
    "success_url",
    "callback_url",
    "require_phone",
    "require_location",
    "require_shipping_address",
)


def save_payment_link(*, link: PaymentLink, user: AbstractBaseUser | None = None) -> PaymentLink:
    """Validate every field of ``link`` (ValidationError keyed by field), then save it and
    audit it as ``user``: created, or changed with its field changes (a save that changes
    nothing records nothing); a change of ``is_active`` is audited as a (re)activation."""
    link.full_clean()
    with transaction.atomic():
        # The row as it is now, locked, so that two concurrent edits each record what they
        # changed from the version they replaced.
        before = (
            PaymentLink.objects.select_for_update().filter(pk=link.pk).first()
            if link.pk is not None
            else None
        )
        link.save()
        changes = field_changes(before, link, PAYMENT_LINK_AUDITED_FIELDS)
        if before is None or changes:
            action = AuditEntry.Action.LINK_UPDATED if before else AuditEntry.Action.LINK_CREATED
            _record_link(link, user, action, changes)
        if before is not None and before.is_active != link.is_active:
            _record_link(link, user, _activation_action(link.is_active))
    return link


def set_payment_links_active(
    *, links: QuerySet[PaymentLink], active: bool, user: AbstractBaseUser | None = None
) -> int:
    """Deactivate links (each then shows a clear page and creates nothing) or reactivate
    them, each audited as ``user``; returns how many changed (links already so are left
    alone and record nothing)."""
    with transaction.atomic():
        # Locked, so two concurrent deactivations change (and audit) each link once: the
        # second sees it already inactive once the first commits.
        changing = list(
            links.exclude(is_active=active)
            .select_related("org")
            .select_for_update(of=("self",))
            .order_by("pk")
        )
        PaymentLink.objects.filter(pk__in=[link.pk for link in changing]).update(is_active=active)
        for link in changing:
            _record_link(link, user, _activation_action(active))
    return len(changing)


def _activation_action(active: bool) -> str:
    return AuditEntry.Action.LINK_REACTIVATED if active else AuditEntry.Action.LINK_DEACTIVATED


def _record_link(link: PaymentLink, user, action: str, changes: dict | None = None) -> None:
    # The target is the link's id: its name can change, the id never does (the link's page
    # lists its own entries by it).
    record(
        org=link.org,
        user=user,
        action=action,
        target=link.public_id,
        mode=link.mode,
        changes=changes,
    )


def create_api_key(
    *, org: Organization, mode: str, name: str = "", created_by: AbstractBaseUser | None = None
) -> tuple[ApiKey, str]:
    """Create a key and return it with its plain text, which is shown once and never stored.
    ``created_by`` is the acting user (None: a command or the system), named in the audit
    entry, which holds the key's masked form and name only."""
    mode = Mode(mode)
    plain_key = new_public_id(f"sk_{mode}", length=48)
    api_key = ApiKey(
        org=org,
        mode=mode,
        name=name,
        key_hash=hash_api_key(plain_key),
        prefix=plain_key[: len(f"sk_{mode}_") + 4],
        last4=plain_key[-4:],
        created_by=created_by,
    )
    # Its name: at most 100 characters, one line (ValidationError keyed by "name").
    api_key.full_clean(exclude=["org", "created_by"], validate_unique=False)
    with transaction.atomic():
        api_key.save(force_insert=True)
        record(
            org=org,
            user=created_by,
            action=AuditEntry.Action.API_KEY_CREATED,
            target=api_key.masked,
            mode=mode,
            changes={"name": [None, name]} if name else {},
        )
    return api_key, plain_key


def revoke_api_key(*, api_key: ApiKey, user: AbstractBaseUser | None = None) -> ApiKey:
    """Revoke a key, audited as ``user``; requests with it get 401 from then on. Revoking a
    revoked key changes (and records) nothing."""
    with transaction.atomic():
        # Locked: of two concurrent revocations one revokes and records, the other sees it done.
        current = ApiKey.objects.select_for_update().get(pk=api_key.pk)
        if current.revoked_at is None:
            current.revoked_at = timezone.now()
            current.save(update_fields=["revoked_at"])
            record(
                org=api_key.org,
                user=user,
                action=AuditEntry.Action.API_KEY_REVOKED,
                target=current.masked,
                mode=current.mode,
            )
    api_key.revoked_at = current.revoked_at
    return api_key


def authenticate_api_key(plain_key: str) -> ApiKey | None:
    """The usable key matching ``plain_key``, with its org, recording when it was last used."""
    api_key = (
        ApiKey.objects.usable()
        .select_related("org")
        .filter(key_hash=hash_api_key(plain_key))
        .first()
    )
    if api_key is None:
        return None
    now = timezone.now()
    # Write at most once a minute per key, so a busy integration doesn't update a row per request.
    if api_key.last_used_at is None or (now - api_key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key


def callback_secret_for(*, org: Organization, mode: str) -> CallbackSecret:
    """The org's current callback secret for ``mode``, created on first use.

    Orgs are created in several places (admin, seed_demo, factories), so the secret is made
    here rather than with the org; the partial unique constraint lets one concurrent creator win.
    """
    mode = Mode(mode)
    current = CallbackSecret.objects.for_org(org, mode).current().first()
    if current is not None:
        return current
    try:
        with transaction.atomic():
            return CallbackSecret.objects.create(org=org, mode=mode)
    except IntegrityError:
        # Another request created it between our read and our insert: use theirs.
        return CallbackSecret.objects.for_org(org, mode).current().get()


def callback_signing_secrets(
    *, org: Organization, mode: str, now: datetime | None = None
) -> list[str]:
    """The secrets a ``mode`` callback is signed with: the current one first, then any
    rotated one still within its 24 h grace period."""
    callback_secret_for(org=org, mode=mode)  # there is always a current one to sign with
    signing = CallbackSecret.objects.for_org(org, mode).signing(now or timezone.now())
    return list(signing.values_list("secret", flat=True))


@transaction.atomic
def rotate_callback_secret(
    *,
    org: Organization,
    mode: str,
    user: AbstractBaseUser | None = None,
    now: datetime | None = None,
) -> CallbackSecret:
    """Replace the org's ``mode`` secret; the old one keeps signing and verifying for 24 h."""
    mode = Mode(mode)
    now = now or timezone.now()
    # Rotations of one org queue on its row, so two at once retire one secret each in turn.
    Organization.objects.select_for_update().get(pk=org.pk)
    current = callback_secret_for(org=org, mode=mode)
    valid_until = now + CALLBACK_SECRET_GRACE
    CallbackSecret.objects.filter(pk=current.pk).update(expires_at=valid_until)
    # Secrets past their grace period verify nothing any more: no reason to keep them.
    CallbackSecret.objects.for_org(org, mode).filter(expires_at__lte=now).delete()
    new = CallbackSecret.objects.create(org=org, mode=mode, created_by=user, created_at=now)
    record(
        org=org,
        user=user,
        action=AuditEntry.Action.SECRET_ROTATED,
        target=new.masked,
        mode=mode,
        # Masked values only: the log is read by every member, and must never hold a secret.
        changes={
            "secret": [current.masked, new.masked],
            "previous_valid_until": valid_until.isoformat(),
        },
    )
    return new


def reveal_callback_secret(
    *, org: Organization, mode: str, user: AbstractBaseUser | None
) -> CallbackSecret:
    """The org's current ``mode`` secret, to be shown in full once; audited
    (``SECRET_REVEALED``, with the masked value)."""
    with transaction.atomic():
        secret = callback_secret_for(org=org, mode=mode)
        record(
            org=org,
            user=user,
            action=AuditEntry.Action.SECRET_REVEALED,
            target=secret.masked,
            mode=Mode(mode),
        )
    return secret
