"""Writes for organizations: API keys and callback secrets."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from orgs.ids import new_public_id
from orgs.models import ApiKey, Mode, Organization, hash_api_key, new_callback_secret


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


@transaction.atomic
def rotate_callback_secret(*, org: Organization) -> str:
    """Give the org a new callback signing secret and return it."""
    org.callback_secret = new_callback_secret()
    org.save(update_fields=["callback_secret"])
    return org.callback_secret
