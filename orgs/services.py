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


def save_payment_link(*, link: PaymentLink) -> PaymentLink:
    """Validate every field of ``link`` (ValidationError keyed by field), then save it."""
    link.full_clean()
    with transaction.atomic():
        link.save()
    return link


def set_payment_links_active(*, links: QuerySet[PaymentLink], active: bool) -> int:
    """Deactivate links (each then shows a clear page and creates nothing) or reactivate
    them, in one statement; returns how many changed."""
    return links.exclude(is_active=active).update(is_active=active)


def create_api_key(
    *, org: Organization, mode: str, name: str = "", created_by: AbstractBaseUser | None = None
) -> tuple[ApiKey, str]:
    """Create a key and return it with its plain text, which is shown once and never stored."""
    mode = Mode(mode)
    plain_key = new_public_id(f"sk_{mode}", length=48)
    api_key = ApiKey.objects.create(
        org=org,
        mode=mode,
        name=name,
        key_hash=hash_api_key(plain_key),
        prefix=plain_key[: len(f"sk_{mode}_") + 4],
        last4=plain_key[-4:],
        created_by=created_by,
    )
    return api_key, plain_key


def revoke_api_key(*, api_key: ApiKey) -> ApiKey:
    """Revoke a key; requests with it get 401 from then on."""
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
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
