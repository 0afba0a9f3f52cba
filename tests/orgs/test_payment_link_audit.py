"""Payment link changes are audited in the same transaction: who created, changed (what,
from what to what), deactivated or reactivated which link; a save that fails records nothing."""

import pytest
from django.core.exceptions import ValidationError

from orgs.models import AuditEntry, PaymentLink
from orgs.services import save_payment_link, set_payment_links_active
from tests.factories import PaymentLinkFactory, UserFactory

pytestmark = pytest.mark.django_db


def entries(org) -> list[tuple[str, str, str, dict]]:
    return [
        (entry.action, entry.actor, entry.target, entry.changes)
        for entry in AuditEntry.objects.for_org(org).order_by("created_at", "id")
    ]


def test_creating_a_link_records_who_and_its_fields(org):
    user = UserFactory(username="jenny")
    link = PaymentLinkFactory.build(org=org, name="Beans", unit_price=1250, description="")

    save_payment_link(link=link, user=user)

    [(action, actor, target, changes)] = entries(org)
    assert (action, actor, target) == (AuditEntry.Action.LINK_CREATED, "jenny", link.public_id)
    assert changes["name"] == [None, "Beans"]
    assert changes["unit_price"] == [None, 1250]
    assert "description" not in changes  # empty fields of a new link are not listed
    assert AuditEntry.objects.get().mode == "test"


def test_changing_a_link_records_each_changed_field_from_old_to_new(org):
    link = PaymentLinkFactory(org=org, name="Beans", unit_price=1250)
    link.name, link.unit_price = "Beans, 1 kg", 2400

    save_payment_link(link=link, user=UserFactory())

    [(action, _actor, _target, changes)] = entries(org)
    assert action == AuditEntry.Action.LINK_UPDATED
    assert changes == {"name": ["Beans", "Beans, 1 kg"], "unit_price": [1250, 2400]}


def test_a_save_that_changes_nothing_records_nothing(org):
    link = PaymentLinkFactory(org=org)

    save_payment_link(link=link, user=UserFactory())

    assert entries(org) == []


def test_a_refused_change_records_nothing_and_keeps_the_old_values(org, settings):
    settings.CALLBACK_ALLOW_PRIVATE = False
    link = PaymentLinkFactory(org=org, name="Beans")
    link.name, link.callback_url = "Renamed", "http://10.0.0.1/hooks"

    with pytest.raises(ValidationError):
        save_payment_link(link=link, user=UserFactory())

    assert entries(org) == []
    assert PaymentLink.objects.get(pk=link.pk).name == "Beans"


def test_deactivating_and_reactivating_are_audited_once_each(org):
    user = UserFactory(username="sam")
    link = PaymentLinkFactory(org=org)
    one_link = PaymentLink.objects.filter(pk=link.pk)

    assert set_payment_links_active(links=one_link, active=False, user=user) == 1
    assert set_payment_links_active(links=one_link, active=False, user=user) == 0  # already
    assert set_payment_links_active(links=one_link, active=True, user=user) == 1

    assert [entry[:3] for entry in entries(org)] == [
        (AuditEntry.Action.LINK_DEACTIVATED, "sam", link.public_id),
        (AuditEntry.Action.LINK_REACTIVATED, "sam", link.public_id),
    ]


def test_saving_is_active_through_the_edit_service_is_audited_as_a_deactivation(org):
    link = PaymentLinkFactory(org=org)
    link.is_active = False

    save_payment_link(link=link, user=UserFactory())

    assert [entry[0] for entry in entries(org)] == [AuditEntry.Action.LINK_DEACTIVATED]


def test_the_admin_audits_its_changes_as_the_operator(admin_client, admin_user, org):
    link = PaymentLinkFactory(org=org, name="Beans")

    admin_client.post(
        "/admin/orgs/paymentlink/",
        {"action": "deactivate_links", "_selected_action": [link.pk]},
    )

    [(action, actor, target, _changes)] = entries(org)
    assert (action, actor, target) == (
        AuditEntry.Action.LINK_DEACTIVATED,
        admin_user.username,
        link.public_id,
    )
