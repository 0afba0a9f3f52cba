"""Callback signing secrets: one per org and mode, rotatable with 24 h of overlap, printed last
by ``manage.py callback_secret``."""

import base64
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from orgs.models import CallbackSecret, CallbackSecretQuerySet, Mode
from orgs.services import callback_secret_for, callback_signing_secrets, rotate_callback_secret
from tests.concurrency import at_once
from tests.factories import OrganizationFactory, signing_secret


def _last_line(out: StringIO) -> str:
    return out.getvalue().strip().splitlines()[-1]


def test_test_and_live_secrets_differ_and_have_the_standard_webhooks_format(org):
    test_secret, live_secret = signing_secret(org, Mode.TEST), signing_secret(org, Mode.LIVE)

    assert test_secret != live_secret
    for secret in (test_secret, live_secret):
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24


def test_each_org_has_its_own_secrets(org):
    other = OrganizationFactory()

    assert signing_secret(org) != signing_secret(other)


def test_the_current_secret_is_created_once_then_reused(org):
    first = callback_secret_for(org=org, mode=Mode.TEST)

    again = callback_secret_for(org=org, mode=Mode.TEST)

    assert again == first
    assert CallbackSecret.objects.filter(org=org, mode=Mode.TEST).count() == 1


def test_the_database_refuses_a_second_current_secret_for_one_org_and_mode(org):
    callback_secret_for(org=org, mode=Mode.TEST)

    with pytest.raises(IntegrityError), transaction.atomic():
        CallbackSecret.objects.create(org=org, mode=Mode.TEST)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_first_uses_all_get_the_one_secret_created(monkeypatch):
    org = OrganizationFactory()
    threads_count = 6
    original_first = CallbackSecretQuerySet.first

    def slow_first(self):
        # Every thread looks, finds nothing, and only then inserts: a guaranteed collision.
        found = original_first(self)
        time.sleep(0.1)
        return found

    monkeypatch.setattr(CallbackSecretQuerySet, "first", slow_first)
    secrets = at_once(
        lambda: callback_secret_for(org=org, mode=Mode.LIVE).secret, threads=threads_count
    )

    assert len(set(secrets)) == 1
    assert CallbackSecret.objects.filter(org=org, mode=Mode.LIVE).count() == 1


def test_after_rotation_both_secrets_sign_for_24_hours_then_only_the_new_one(org):
    old_secret = signing_secret(org)
    rotated_at = timezone.now()

    new = rotate_callback_secret(org=org, mode=Mode.TEST, now=rotated_at)

    just_before = rotated_at + timedelta(hours=24) - timedelta(seconds=1)
    assert callback_signing_secrets(org=org, mode=Mode.TEST, now=just_before) == [
        new.secret,
        old_secret,
    ]
    assert callback_signing_secrets(
        org=org, mode=Mode.TEST, now=rotated_at + timedelta(hours=24)
    ) == [new.secret]
    assert signing_secret(org) == new.secret != old_secret


def test_rotating_one_mode_leaves_the_other_modes_secret_alone(org):
    live_secret = signing_secret(org, Mode.LIVE)

    rotate_callback_secret(org=org, mode=Mode.TEST)

    assert callback_signing_secrets(org=org, mode=Mode.LIVE) == [live_secret]


def test_rotating_forgets_secrets_past_their_grace_period(org):
    first = callback_secret_for(org=org, mode=Mode.TEST)
    two_days_ago = timezone.now() - timedelta(days=2)
    rotate_callback_secret(org=org, mode=Mode.TEST, now=two_days_ago)

    rotate_callback_secret(org=org, mode=Mode.TEST)

    assert not CallbackSecret.objects.filter(pk=first.pk).exists()
    assert CallbackSecret.objects.filter(org=org, mode=Mode.TEST).count() == 2


def test_command_prints_the_modes_secret_last(org):
    for mode in Mode.values:
        out = StringIO()

        call_command("callback_secret", org=org.slug, mode=mode, stdout=out)

        assert _last_line(out) == signing_secret(org, mode)


def test_command_rotates_one_mode_and_prints_the_new_secret_last(org):
    old_test, live = signing_secret(org, Mode.TEST), signing_secret(org, Mode.LIVE)
    out = StringIO()

    call_command("callback_secret", org=org.slug, mode="test", rotate=True, stdout=out)

    new_test = _last_line(out)
    assert new_test == signing_secret(org, Mode.TEST) != old_test
    assert callback_signing_secrets(org=org, mode=Mode.TEST) == [new_test, old_test]
    assert signing_secret(org, Mode.LIVE) == live


def test_command_requires_the_mode(org):
    with pytest.raises(CommandError, match="--mode"):
        call_command("callback_secret", org=org.slug, stdout=StringIO())


def test_command_refuses_unknown_orgs(db):
    with pytest.raises(CommandError, match="No organization"):
        call_command("callback_secret", org="nope", mode="test", stdout=StringIO())


# Renamed with the migration if the lead renumbers it.
SPLIT_MIGRATION = ("orgs", "0004_callback_secret_per_mode")


@pytest.mark.django_db(transaction=True)
def test_migration_keeps_an_orgs_one_secret_as_its_live_secret_and_adds_a_new_test_one():
    executor = MigrationExecutor(connection)
    before = [
        parent.key
        for parent in executor.loader.graph.node_map[SPLIT_MIGRATION].parents
        if parent.key[0] == "orgs"
    ]
    try:
        executor.migrate(before)
        old_apps = executor.loader.project_state(before).apps
        old_secret = "whsec_" + base64.b64encode(b"production handlers know me!").decode()
        old_apps.get_model("orgs", "Organization").objects.create(
            name="Old Co.", slug="old-co", callback_secret=old_secret
        )
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    secrets = dict(
        CallbackSecret.objects.current().filter(org__slug="old-co").values_list("mode", "secret")
    )
    assert secrets[Mode.LIVE] == old_secret
    assert secrets[Mode.TEST].startswith("whsec_")
    assert secrets[Mode.TEST] != old_secret
