"""The customer portal: a signed, expiring link listing one customer's paid orders at one
merchant, each with its receipt; a tampered or expired link is a 404."""

import time
from datetime import timedelta

import pytest
from django.core import signing

from checkout.portal import PORTAL_SALT, portal_path, portal_url
from checkout.services import LineItem
from orgs.models import Mode
from tests.factories import OrganizationFactory, card_form_data, make_session, session_ready_to_pay

pytestmark = pytest.mark.django_db


def paid_session(client, **kwargs):
    session = session_ready_to_pay(**kwargs)
    client.post(f"/checkout/{session.public_id}/pay", card_form_data())
    session.order.refresh_from_db()
    return session


def test_portal_lists_the_customers_paid_orders_with_receipts(client):
    org = OrganizationFactory(name="Bean There Coffee")
    first = paid_session(
        client,
        org=org,
        customer_email="ann@example.com",
        items=[LineItem(name="Espresso beans", quantity=2, unit_price=2400)],
    )
    second = paid_session(
        client,
        org=org,
        customer_email="Ann@Example.com",
        items=[LineItem(name="Pour-over kit", quantity=1, unit_price=5900)],
    )

    response = client.get(portal_path(first.order))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Bean There Coffee" in html and "ann@example.com" in html
    for session in (first, second):
        assert f"Order #{session.order.number}" in html
    assert "Espresso beans" in html and "$48.00" in html
    assert "Pour-over kit" in html and "$59.00" in html
    assert html.count("Visa •••• 4242") == 2
    assert html.index(f"Order #{second.order.number}") < html.index(f"Order #{first.order.number}")


def test_portal_shows_no_other_customers_merchants_modes_or_unpaid_orders(client, settings):
    settings.LIVE_PAYMENT_PROCESSOR = "checkout.processors.test.TestProcessor"
    org = OrganizationFactory()

    def bought(name, **kwargs):
        items = [LineItem(name=name, quantity=1, unit_price=1000)]
        return paid_session(client, items=items, **kwargs)

    mine = bought("Mine", org=org, customer_email="ann@example.com")
    bought("Another customer", org=org, customer_email="bob@example.com")
    bought("Another merchant", customer_email="ann@example.com")
    bought("Live mode", org=org, mode=Mode.LIVE, customer_email="ann@example.com")
    make_session(org=org, customer_email="ann@example.com", items=[LineItem("Unpaid", 1, 1000)])

    html = client.get(portal_path(mine.order)).content.decode()

    assert "Mine" in html
    for name in ("Another customer", "Another merchant", "Live mode", "Unpaid"):
        assert name not in html


def test_tampered_token_is_404(client):
    session = paid_session(client)
    path = portal_path(session.order)

    tampered = path[:-3] + ("aaa" if not path.endswith("aaa") else "bbb")
    forged = "/portal/" + signing.dumps(session.order.public_id, salt="another-salt")

    assert client.get(tampered).status_code == 404
    assert client.get(forged).status_code == 404
    assert client.get("/portal/garbage").status_code == 404


def test_expired_token_is_404(client, settings, monkeypatch):
    settings.PORTAL_LINK_MAX_AGE_DAYS = 30
    session = paid_session(client)
    long_ago = time.time() - timedelta(days=31).total_seconds()
    monkeypatch.setattr(signing.time, "time", lambda: long_ago)
    old_path = portal_path(session.order)
    monkeypatch.undo()

    response = client.get(old_path)

    assert response.status_code == 404
    assert client.get(portal_path(session.order)).status_code == 200


def test_token_of_an_unpaid_order_is_404(client):
    session = make_session()
    token = signing.dumps(session.order.public_id, salt=PORTAL_SALT)

    assert client.get(f"/portal/{token}").status_code == 404


def test_receipt_email_links_to_the_absolute_portal_url(client, settings):
    settings.SITE_URL = "https://pay.example.com"
    session = paid_session(client)

    assert portal_url(session.order).startswith("https://pay.example.com/portal/")


def test_portal_page_queries_stay_flat_with_many_orders(client, django_assert_max_num_queries):
    org = OrganizationFactory()
    sessions = [paid_session(client, org=org, customer_email="ann@example.com") for _ in range(8)]

    with django_assert_max_num_queries(5):
        response = client.get(portal_path(sessions[0].order))

    assert response.content.decode().count("Order #") == 8
