"""A sentence that ends with an org name ends once: "paid to Acme Coffee Co.", never "Co..",
wherever it shows (API messages: tests/checkout/api/test_error_messages.py)."""

from io import StringIO

import pytest
from django.core.management import call_command

from checkout.portal import PortalScope, portal_path
from tests.factories import OrganizationFactory, card_form_data, session_ready_to_pay

pytestmark = pytest.mark.django_db

NAME = "Acme Coffee Co."


@pytest.fixture
def paid(client):
    org = OrganizationFactory(name=NAME, support_email="")
    session = session_ready_to_pay(org=org)
    client.post(f"/checkout/{session.public_id}/pay", card_form_data())
    session.order.refresh_from_db()
    return session


def test_receipt_page_ends_sentences_with_the_org_name_once(client, paid):
    html = client.get(f"/checkout/{paid.public_id}").content.decode()

    assert "paid to Acme Coffee Co. A receipt goes to" in html
    assert "all your purchases from Acme Coffee Co.</p>" in html
    assert "Contact Acme Coffee Co.</p>" in html
    assert "Co.." not in html


def test_receipt_page_still_ends_a_plain_org_name_with_a_period(client):
    session = session_ready_to_pay(org=OrganizationFactory(name="Bean There"))
    client.post(f"/checkout/{session.public_id}/pay", card_form_data())

    html = client.get(f"/checkout/{session.public_id}").content.decode()

    assert "paid to Bean There. A receipt goes to" in html


def test_portal_receipt_ends_its_sentence_with_the_org_name_once(client, paid):
    html = client.get(portal_path(paid.order, scope=PortalScope.ORDER)).content.decode()

    assert "all your purchases from Acme Coffee Co.</p>" in html
    assert "Co.." not in html


def test_create_api_key_command_ends_with_the_org_name_once():
    OrganizationFactory(name=NAME, slug="acme-coffee")
    out = StringIO()

    call_command("create_api_key", org="acme-coffee", mode="test", stdout=out)

    assert "for Acme Coffee Co.\n" in out.getvalue()
    assert "Co.." not in out.getvalue()
