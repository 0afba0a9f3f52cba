"""Creating and revoking API keys is audited (who, which key in its masked form), never with
the key itself; the command and the admin keep working through the same services."""

from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from orgs.models import ApiKey, AuditEntry
from orgs.services import create_api_key, revoke_api_key
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_creating_a_key_records_who_and_the_masked_key_never_the_key(org):
    owner = UserFactory(username="olivia")

    api_key, plain_key = create_api_key(org=org, mode="test", name="Web server", created_by=owner)

    entry = AuditEntry.objects.for_org(org).get()
    assert (entry.action, entry.actor, entry.mode) == ("api_key.created", "olivia", "test")
    assert entry.target == api_key.masked
    assert entry.changes == {"name": [None, "Web server"]}
    assert plain_key not in str(entry.target) + str(entry.changes)
    assert plain_key[len(api_key.prefix) : -4] not in str(entry.target)


def test_revoking_a_key_records_it_once(org):
    api_key, _plain = create_api_key(org=org, mode="live")
    owner = UserFactory(username="olivia")

    revoke_api_key(api_key=api_key, user=owner)
    revoke_api_key(api_key=api_key, user=owner)  # already revoked: nothing changes

    revoked = AuditEntry.objects.for_org(org).filter(action=AuditEntry.Action.API_KEY_REVOKED)
    assert [(entry.actor, entry.target, entry.mode) for entry in revoked] == [
        ("olivia", api_key.masked, "live")
    ]
    assert api_key.revoked_at is not None


def test_a_revocation_keeps_the_first_revocation_time(org):
    api_key, _plain = create_api_key(org=org, mode="test")
    stale_copy = ApiKey.objects.get(pk=api_key.pk)  # read before the first revocation
    first = revoke_api_key(api_key=api_key).revoked_at

    revoke_api_key(api_key=stale_copy)

    assert ApiKey.objects.get(pk=api_key.pk).revoked_at == first
    assert stale_copy.revoked_at == first
    assert AuditEntry.objects.filter(action=AuditEntry.Action.API_KEY_REVOKED).count() == 1


@pytest.mark.parametrize("name", ["Web\nserver", "x" * 101, "Web\u202eserver"])
def test_a_key_name_that_is_not_one_short_line_is_refused_and_nothing_is_written(org, name):
    with pytest.raises(ValidationError) as refused:
        create_api_key(org=org, mode="test", name=name)

    assert list(refused.value.message_dict) == ["name"]
    assert not ApiKey.objects.exists()
    assert not AuditEntry.objects.exists()


def test_the_command_creates_keys_audited_as_the_system(org):
    call_command("create_api_key", org=org.slug, mode="test", stdout=StringIO())

    entry = AuditEntry.objects.for_org(org).get()
    assert (entry.action, entry.user, entry.actor) == ("api_key.created", None, "system")


def test_the_admin_revokes_through_the_service_as_the_operator(admin_client, admin_user, org):
    api_key, _plain = create_api_key(org=org, mode="test")

    admin_client.post(
        "/admin/orgs/apikey/", {"action": "revoke_keys", "_selected_action": [api_key.pk]}
    )

    api_key.refresh_from_db()
    assert api_key.is_revoked
    entry = AuditEntry.objects.for_org(org).get(action=AuditEntry.Action.API_KEY_REVOKED)
    assert entry.actor == admin_user.username
