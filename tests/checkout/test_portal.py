"""The customer portal: signed, expiring links. The thank-you page links to that one order; the
receipt email links to all of the customer's paid orders at the merchant, each with its receipt.
A tampered, scope-altered or expired link is a 404."""

import json
import re
import time
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.core import mail, signing
from django.db import connection

from checkout.models import Order
from checkout.portal import PORTAL_SALT, PortalScope, portal_path
from checkout.services import LineItem
from orgs.models import Mode
from tests.factories import (
    OrganizationFactory,
    card_form_data,
    make_session,
    session_ready_to_pay,
)

pytestmark = pytest.mark.django_db

ALL_ORDERS = PortalScope.CUSTOMER


def paid_session(client, **kwargs):
    session = session_ready_to_pay(**kwargs)
    client.post(f"/checkout/{session.public_id}/pay", card_form_data())
    session.order.refresh_from_db()
    return session


def links(html: str) -> list[str]:
    return re.findall(r'href="(/portal/[^"]+)"', html)


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

    response = client.get(portal_path(first.order, scope=ALL_ORDERS))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Your purchases" in html
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

    html = client.get(portal_path(mine.order, scope=ALL_ORDERS)).content.decode()

    assert "Mine" in html
    for name in ("Another customer", "Another merchant", "Live mode", "Unpaid"):
        assert name not in html


def test_paying_with_someone_elses_email_does_not_reveal_their_orders(client):
    org = OrganizationFactory()
    items = [LineItem(name="Engagement ring", quantity=1, unit_price=250000)]
    paid_session(client, org=org, customer_email="ann@example.com", items=items)
    # Anyone can type Ann's address (in any case) in step 1 and pay for something cheap.
    snoop = make_session(org=org, customer_email="", items=[LineItem("Sticker", 1, 100)])
    client.post(f"/checkout/{snoop.public_id}/details", {"email": "ANN@Example.COM"})
    thank_you = client.get(
        client.post(f"/checkout/{snoop.public_id}/pay", card_form_data())["Location"]
    )
    receipt_page = client.get(f"/checkout/{snoop.public_id}")

    for page in (thank_you, receipt_page):
        [link] = links(page.content.decode())
        portal = client.get(link).content.decode()
        assert "Sticker" in portal
        assert "Engagement ring" not in portal
        assert "Your receipt" in portal


def test_the_emailed_link_lists_all_the_customers_paid_orders(
    client, django_capture_on_commit_callbacks
):
    org = OrganizationFactory()
    earlier = paid_session(
        client, org=org, customer_email="ann@example.com", items=[LineItem("Kettle", 1, 4000)]
    )
    session = session_ready_to_pay(
        org=org, customer_email="Ann@Example.com", items=[LineItem("Grinder", 1, 9000)]
    )
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/checkout/{session.public_id}/pay", card_form_data())

    [receipt] = mail.outbox
    [url] = re.findall(r"https?://\S+/portal/\S+", receipt.body)
    html = client.get(urlsplit(url).path).content.decode()

    assert "Your purchases" in html
    assert "Kettle" in html and "Grinder" in html
    assert f"Order #{earlier.order.number}" in html
    assert url in receipt.alternatives[0].content


def test_a_token_whose_scope_is_altered_is_404(client):
    session = paid_session(client)
    token = portal_path(session.order, scope=PortalScope.ORDER).removeprefix("/portal/")
    _, timestamp, signature = token.rsplit(":", 2)
    claims = {"order": session.order.public_id, "scope": "customer"}
    altered = signing.b64_encode(json.dumps(claims, separators=(",", ":")).encode()).decode()

    assert client.get(f"/portal/{token}").status_code == 200
    assert client.get(f"/portal/{altered}:{timestamp}:{signature}").status_code == 404


def test_tampered_token_is_404(client):
    session = paid_session(client)
    path = portal_path(session.order, scope=ALL_ORDERS)

    tampered = path[:-3] + ("aaa" if not path.endswith("aaa") else "bbb")
    forged = "/portal/" + signing.dumps(
        {"order": session.order.public_id, "scope": "customer"}, salt="another-salt"
    )
    # A well-signed token without a scope (the first version's format) opens nothing.
    unscoped = "/portal/" + signing.dumps(session.order.public_id, salt=PORTAL_SALT)
    unknown_scope = "/portal/" + signing.dumps(
        {"order": session.order.public_id, "scope": "everything"}, salt=PORTAL_SALT
    )

    for path in (tampered, forged, unscoped, unknown_scope, "/portal/garbage"):
        assert client.get(path).status_code == 404


def test_expired_token_is_404(client, settings, monkeypatch):
    settings.PORTAL_LINK_MAX_AGE_DAYS = 30
    session = paid_session(client)
    long_ago = time.time() - timedelta(days=31).total_seconds()
    monkeypatch.setattr(signing.time, "time", lambda: long_ago)
    old_path = portal_path(session.order, scope=ALL_ORDERS)
    monkeypatch.undo()

    response = client.get(old_path)

    assert response.status_code == 404
    assert client.get(portal_path(session.order, scope=ALL_ORDERS)).status_code == 200


def test_token_of_an_unpaid_order_is_404(client):
    session = make_session()
    token = signing.dumps({"order": session.order.public_id, "scope": "customer"}, salt=PORTAL_SALT)

    assert client.get(f"/portal/{token}").status_code == 404


def test_receipt_email_links_to_the_absolute_portal_url(
    client, settings, django_capture_on_commit_callbacks
):
    settings.SITE_URL = "https://pay.example.com"
    session = session_ready_to_pay(
        customer_email="ann@example.com", items=[LineItem("Grinder", 1, 9000)]
    )
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/checkout/{session.public_id}/pay", card_form_data())

    [receipt] = mail.outbox
    [text_link] = re.findall(r"\S*/portal/\S+", receipt.body)
    [html_link] = re.findall(r'href="([^"]*/portal/[^"]*)"', receipt.alternatives[0].content)
    portal = client.get(urlsplit(text_link).path)

    assert text_link.startswith("https://pay.example.com/portal/")
    assert html_link == text_link
    assert portal.status_code == 200
    assert f"Order #{session.order.number}" in portal.content.decode()
    assert "Grinder" in portal.content.decode()


def test_portal_page_queries_stay_flat_with_many_orders(client, django_assert_max_num_queries):
    org = OrganizationFactory()
    sessions = [paid_session(client, org=org, customer_email="ann@example.com") for _ in range(8)]

    with django_assert_max_num_queries(5):
        response = client.get(portal_path(sessions[0].order, scope=ALL_ORDERS))

    assert response.content.decode().count("Order #") == 8


def pay_on_the_hosted_page(client, on_commit, org, email: str, product: str):
    """A customer types ``email`` in step 1 and pays; returns the receipt and its portal path."""
    session = make_session(org=org, customer_email="", items=[LineItem(product, 1, 1000)])
    mail.outbox.clear()
    with on_commit(execute=True):
        client.post(f"/checkout/{session.public_id}/details", {"email": email})
        client.post(f"/checkout/{session.public_id}/pay", card_form_data())
    [receipt] = mail.outbox
    [url] = re.findall(r"https?://\S+/portal/\S+", receipt.body)
    return receipt, urlsplit(url).path


def assert_lookalike_domain_opens_only_its_own_orders(client, on_commit):
    org = OrganizationFactory()
    pay_on_the_hosted_page(client, on_commit, org, "victim@gmail.com", "Engagement ring")

    # The dotless ı: xn--gmal-nza.com is another domain, which anyone can register.
    receipt, portal = pay_on_the_hosted_page(client, on_commit, org, "victim@gmaıl.com", "Sticker")

    html = client.get(portal).content.decode()
    assert "Your purchases" in html and "Sticker" in html
    assert "Engagement ring" not in html
    assert receipt.to == ["victim@xn--gmal-nza.com"]


def test_lookalike_domain_portal_link_lists_only_its_own_orders(
    client, django_capture_on_commit_callbacks
):
    # Runs on SQLite and PostgreSQL alike.
    assert_lookalike_domain_opens_only_its_own_orders(client, django_capture_on_commit_callbacks)


@pytest.mark.postgres
def test_lookalike_domain_portal_link_lists_only_its_own_orders_on_postgres(
    client, django_capture_on_commit_callbacks
):
    # The premise: PostgreSQL's UPPER() folds the dotless ı into I, so a case-insensitive
    # match (the portal's former iexact) would take the two addresses for one customer.
    with connection.cursor() as cursor:
        cursor.execute("SELECT UPPER(%s) = UPPER(%s)", ["victim@gmaıl.com", "victim@gmail.com"])
        assert cursor.fetchone() == (True,)

    assert_lookalike_domain_opens_only_its_own_orders(client, django_capture_on_commit_callbacks)


@pytest.mark.postgres
def test_portal_matches_the_stored_address_exactly_on_postgres(client):
    org = OrganizationFactory()
    paid_session(client, org=org, customer_email="victim@gmail.com", items=[LineItem("Ring", 1, 9)])
    # A row stored before addresses were canonicalized, that canonical_email now refuses (its
    # local part is not ASCII), so the data migration left it as it was.
    legacy = paid_session(client, org=org, items=[LineItem("Sticker", 1, 1)])
    Order.objects.filter(pk=legacy.order.pk).update(customer_email="vıctim@gmail.com")

    html = client.get(portal_path(legacy.order, scope=ALL_ORDERS)).content.decode()

    assert "Sticker" in html
    assert "Ring" not in html


def test_portal_receipts_of_test_payments_say_no_real_money_was_charged(client):
    org = OrganizationFactory()
    first = paid_session(client, org=org, customer_email="ann@example.com")
    paid_session(client, org=org, customer_email="ann@example.com")

    html = client.get(portal_path(first.order, scope=ALL_ORDERS)).content.decode()

    assert html.count("No real money was charged.") == 2  # on each receipt


def test_portal_receipts_of_live_payments_say_nothing_of_test_mode(client, settings):
    settings.LIVE_PAYMENT_PROCESSOR = "checkout.processors.test.TestProcessor"
    session = paid_session(client, mode=Mode.LIVE)

    html = client.get(portal_path(session.order, scope=ALL_ORDERS)).content.decode()

    assert "Visa •••• 4242" in html
    assert "No real money" not in html and "Test mode" not in html
