"""The audit log records who changed what, and what changed, never a secret."""

import pytest

from orgs.audit import field_changes, record
from orgs.models import AuditEntry, Mode
from tests.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_field_changes_lists_only_the_fields_that_differ():
    before = OrganizationFactory(currency="USD", support_email="")
    after = OrganizationFactory.build(
        pk=before.pk, name=before.name, slug=before.slug, currency="EUR", support_email=""
    )
    assert field_changes(before, after, ["name", "currency", "support_email"]) == {
        "currency": ["USD", "EUR"]
    }


def test_field_changes_of_a_new_row_lists_its_filled_fields_only():
    new = OrganizationFactory.build(name="Acme", support_email="")
    assert field_changes(None, new, ["name", "support_email"]) == {"name": [None, "Acme"]}


def test_an_entry_keeps_the_actors_name_after_the_user_is_deleted():
    org, user = OrganizationFactory(), UserFactory(username="jenny")
    record(org=org, user=user, action=AuditEntry.Action.API_KEY_REVOKED, target="sk_test_Ab…wxyz")
    user.delete()
    entry = AuditEntry.objects.for_org(org).get()
    assert (entry.user, entry.actor, entry.target) == (None, "jenny", "sk_test_Ab…wxyz")


def test_an_unknown_action_is_refused_rather_than_logged():
    with pytest.raises(ValueError):
        record(org=OrganizationFactory(), user=None, action="settings.typo", mode=Mode.TEST)
