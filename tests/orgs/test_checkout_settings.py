"""Checkout settings services: saving an org's defaults (validated, audited with what changed,
the admin through the same service), the fraud-flag threshold's bounds, and the audit of
secret reveals and rotations (masked values only)."""

import json
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import IntegrityError, transaction

from orgs.models import AuditEntry, Mode, Organization
from orgs.services import (
    callback_secret_for,
    reveal_callback_secret,
    rotate_callback_secret,
    save_organization,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def jenny():
    return UserFactory(username="jenny")


def test_saving_records_who_changed_which_settings_from_what_to_what(org, jenny):
    org.currency = "EUR"
    org.callback_url = "https://merchant.example.com/hooks"
    org.fraud_flag_threshold = 5

    save_organization(org=org, user=jenny)

    entry = AuditEntry.objects.for_org(org).get()
    assert (entry.action, entry.actor, entry.user, entry.mode) == (
        AuditEntry.Action.SETTINGS_UPDATED,
        "jenny",
        jenny,
        "",
    )
    assert entry.changes == {
        "currency": ["USD", "EUR"],
        "callback_url": ["", "https://merchant.example.com/hooks"],
        "fraud_flag_threshold": [3, 5],
    }


def test_saving_without_a_change_records_nothing(org, jenny):
    save_organization(org=Organization.objects.get(pk=org.pk), user=jenny)

    assert not AuditEntry.objects.for_org(org).exists()


def test_an_invalid_setting_is_refused_and_nothing_is_written(org, jenny):
    org.callback_url = "ftp://merchant.example.com/hooks"
    org.currency = "EUR"

    with pytest.raises(ValidationError) as refused:
        save_organization(org=org, user=jenny)

    assert "callback_url" in refused.value.message_dict
    assert Organization.objects.get(pk=org.pk).currency == "USD"
    assert not AuditEntry.objects.for_org(org).exists()


@pytest.mark.parametrize(("threshold", "valid"), [(0, False), (1, True), (100, True), (101, False)])
def test_the_fraud_flag_threshold_is_1_to_100(org, jenny, threshold, valid):
    org.fraud_flag_threshold = threshold

    if valid:
        save_organization(org=org, user=jenny)
        assert Organization.objects.get(pk=org.pk).fraud_flag_threshold == threshold
    else:
        with pytest.raises(ValidationError, match="fraud_flag_threshold"):
            save_organization(org=org, user=jenny)


def test_a_new_org_flags_from_three_failed_attempts(org):
    assert Organization.objects.get(pk=org.pk).fraud_flag_threshold == 3


def test_the_database_refuses_a_threshold_of_zero_whichever_door(org):
    with pytest.raises(IntegrityError), transaction.atomic():
        Organization.objects.filter(pk=org.pk).update(fraud_flag_threshold=0)


def test_the_admin_saves_through_the_service_and_is_audited(client, org):
    operator = UserFactory(username="operator", is_staff=True, is_superuser=True)
    client.force_login(operator)
    form = {
        "name": org.name,
        "slug": org.slug,
        "currency": "JPY",
        "success_url": "",
        "callback_url": "",
        "terms_url": org.terms_url,
        "privacy_url": org.privacy_url,
        "support_email": org.support_email,
        "fraud_flag_threshold": "4",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
    }

    response = client.post(f"/admin/orgs/organization/{org.pk}/change/", form)

    assert response.status_code == 302, response.context["adminform"].form.errors
    entry = AuditEntry.objects.for_org(org).get()
    assert entry.actor == "operator"
    assert entry.changes == {"currency": ["USD", "JPY"], "fraud_flag_threshold": [3, 4]}


def test_a_rotation_is_audited_with_masked_secrets_only(org, jenny):
    old = callback_secret_for(org=org, mode=Mode.LIVE)

    new = rotate_callback_secret(org=org, mode=Mode.LIVE, user=jenny)

    entry = AuditEntry.objects.for_org(org).get()
    assert (entry.action, entry.actor, entry.mode, entry.target) == (
        AuditEntry.Action.SECRET_ROTATED,
        "jenny",
        Mode.LIVE,
        new.masked,
    )
    assert entry.changes["secret"] == [old.masked, new.masked]
    assert entry.changes["previous_valid_until"].startswith(str(new.created_at.year))
    stored = json.dumps(entry.changes) + entry.target
    assert old.secret not in stored and new.secret not in stored
    assert old.secret.removeprefix("whsec_") not in stored


def test_a_rotation_from_the_command_line_is_audited_as_the_system(org):
    call_command("callback_secret", org=org.slug, mode="test", rotate=True, stdout=StringIO())

    entry = AuditEntry.objects.for_org(org).get()
    assert (entry.action, entry.actor, entry.user) == (
        AuditEntry.Action.SECRET_ROTATED,
        "system",
        None,
    )


def test_revealing_returns_the_current_secret_and_audits_it_masked(org, jenny):
    current = callback_secret_for(org=org, mode=Mode.TEST)

    revealed = reveal_callback_secret(org=org, mode=Mode.TEST, user=jenny)

    assert revealed.secret == current.secret
    entry = AuditEntry.objects.for_org(org).get()
    assert (entry.action, entry.actor, entry.mode, entry.target) == (
        AuditEntry.Action.SECRET_REVEALED,
        "jenny",
        Mode.TEST,
        current.masked,
    )
    assert current.secret not in json.dumps(entry.changes) + entry.target
