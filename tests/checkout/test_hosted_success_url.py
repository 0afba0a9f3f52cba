"""Where a successful payment sends the customer: the effective success URL (session > payment
link > org) with {CHECKOUT_SESSION_ID} filled in, else the built-in thank-you page."""

import pytest

from tests.factories import (
    OrganizationFactory,
    PaymentLinkFactory,
    card_form_data,
    session_ready_to_pay,
)

pytestmark = pytest.mark.django_db


def pay(client, session):
    return client.post(f"/checkout/{session.public_id}/pay", card_form_data())


def test_org_success_url_is_used_when_nothing_overrides_it(client):
    org = OrganizationFactory(success_url="https://shop.example.com/thanks")
    session = session_ready_to_pay(org=org)

    assert pay(client, session)["Location"] == "https://shop.example.com/thanks"


def test_payment_link_success_url_overrides_the_orgs(client):
    org = OrganizationFactory(success_url="https://shop.example.com/thanks")
    link = PaymentLinkFactory(org=org, success_url="https://shop.example.com/beans/thanks")
    session = session_ready_to_pay(link=link)

    assert pay(client, session)["Location"] == "https://shop.example.com/beans/thanks"


def test_session_success_url_overrides_link_and_org(client):
    org = OrganizationFactory(success_url="https://shop.example.com/thanks")
    link = PaymentLinkFactory(org=org, success_url="https://shop.example.com/beans/thanks")
    session = session_ready_to_pay(link=link, success_url="https://shop.example.com/order/42")

    assert pay(client, session)["Location"] == "https://shop.example.com/order/42"


def test_session_id_placeholder_is_substituted(client):
    org = OrganizationFactory(
        success_url="https://shop.example.com/thanks?session={CHECKOUT_SESSION_ID}"
    )
    session = session_ready_to_pay(org=org)

    response = pay(client, session)

    assert response.status_code == 303
    assert response["Location"] == f"https://shop.example.com/thanks?session={session.public_id}"


def test_without_any_success_url_the_customer_lands_on_the_thank_you_page(client):
    session = session_ready_to_pay()

    response = pay(client, session)
    thank_you = client.get(response["Location"])

    html = thank_you.content.decode()
    assert response["Location"] == f"/checkout/{session.public_id}/thank-you"
    assert thank_you.status_code == 200
    assert "Thanks for your payment" in html
    assert "$75.00" in html and "Custom widget" in html
    assert "Save a link to this receipt" in html and "/portal/" in html
