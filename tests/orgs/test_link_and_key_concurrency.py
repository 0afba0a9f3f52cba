"""On PostgreSQL, the same change made twice at one instant (two tabs, a double click) is
made and audited once: deactivating a link, revoking a key, editing a link."""

import pytest

from orgs.models import ApiKey, AuditEntry, PaymentLink
from orgs.services import (
    create_api_key,
    revoke_api_key,
    save_payment_link,
    set_payment_links_active,
)
from tests.concurrency import at_once
from tests.factories import OrganizationFactory, PaymentLinkFactory, UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_deactivations_at_once_deactivate_and_audit_once():
    link = PaymentLinkFactory(org=OrganizationFactory())

    changed = at_once(
        lambda: set_payment_links_active(
            links=PaymentLink.objects.filter(pk=link.pk), active=False
        ),
        threads=4,
    )

    assert sorted(changed) == [0, 0, 0, 1]
    assert AuditEntry.objects.filter(action=AuditEntry.Action.LINK_DEACTIVATED).count() == 1


def test_two_revocations_at_once_audit_once():
    api_key, _plain = create_api_key(org=OrganizationFactory(), mode="test")

    at_once(lambda: revoke_api_key(api_key=ApiKey.objects.get(pk=api_key.pk)), threads=4)

    assert AuditEntry.objects.filter(action=AuditEntry.Action.API_KEY_REVOKED).count() == 1


def test_concurrent_edits_each_audit_the_change_from_the_version_they_replaced():
    link = PaymentLinkFactory(org=OrganizationFactory(), name="Beans")
    user = UserFactory()
    names = iter(["Beans A", "Beans B", "Beans C"])

    def rename():
        copy = PaymentLink.objects.select_related("org").get(pk=link.pk)
        copy.name = next(names)
        return save_payment_link(link=copy, user=user).name

    at_once(rename, threads=3)

    # Each entry starts from the name the one before it left: a chain, with no lost step.
    updates = AuditEntry.objects.filter(action=AuditEntry.Action.LINK_UPDATED).order_by("id")
    chain = [entry.changes["name"] for entry in updates]
    assert chain[0][0] == "Beans"
    assert all(earlier[1] == later[0] for earlier, later in zip(chain, chain[1:], strict=False))
    assert chain[-1][1] == PaymentLink.objects.get(pk=link.pk).name
