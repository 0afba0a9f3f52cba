"""The hosted checkout page: payment links open sessions, the page shows the order and asks for
exactly the effective required fields, and every closed state has its own clear page."""

import re

import pytest
from django.utils import timezone

from checkout.choices import EventKind, SessionSource
from checkout.effective_settings import RequiredFieldSet
from checkout.models import CheckoutSession, Order, TimelineEvent
from checkout.services import LineItem
from orgs.models import Mode
from orgs.services import create_api_key
from tests.checkout.api.client import SEED_BODY, ApiClient
from tests.factories import (
    OrganizationFactory,
    PaymentLinkFactory,
    card_form_data,
    expired_session,
    make_session,
    session_ready_to_pay,
)

pytestmark = pytest.mark.django_db

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def labels(html: str) -> list[str]:
    return [
        re.sub(r"<[^>]+>", "", label).strip()
        for label in re.findall(r"<label[^>]*>(.*?)</label>", html, re.S)
    ]


def test_payment_link_creates_session_and_order_and_redirects_with_303(client):
    link = PaymentLinkFactory(name="Pour-over kit", unit_price=5900, quantity=2)

    response = client.get(f"/pay/{link.public_id}")

    session = CheckoutSession.objects.get()
    assert response.status_code == 303
    assert response["Location"] == f"/checkout/{session.public_id}"
    assert session.payment_link == link
    assert session.source == SessionSource.PAYMENT_LINK
    assert session.order.amount_total == 11800
    assert TimelineEvent.objects.get(session=session).actor_kind == "customer"


def test_deactivated_payment_link_shows_a_clear_page_and_creates_nothing(client):
    link = PaymentLinkFactory(name="Summer blend", is_active=False)

    response = client.get(f"/pay/{link.public_id}")

    assert response.status_code == 404
    assert "This payment link is no longer active" in response.content.decode()
    assert "Summer blend" in response.content.decode()
    assert not CheckoutSession.objects.exists()
    assert not Order.objects.exists()


def test_unknown_payment_link_is_404_and_creates_nothing(client):
    response = client.get("/pay/plink_doesnotexist")

    assert response.status_code == 404
    assert "We can't find this page" in response.content.decode()
    assert not CheckoutSession.objects.exists()


def test_live_payment_link_without_live_processor_is_unavailable_and_creates_nothing(
    client, settings
):
    settings.LIVE_PAYMENT_PROCESSOR = ""
    link = PaymentLinkFactory(mode=Mode.LIVE)

    response = client.get(f"/pay/{link.public_id}")

    assert response.status_code == 503
    assert "Payments are unavailable" in response.content.decode()
    assert not CheckoutSession.objects.exists()


def test_page_shows_merchant_items_total_test_cards_and_policies(client):
    org = OrganizationFactory(name="Bean There Coffee")
    session = make_session(
        org=org,
        items=[
            LineItem(name="Espresso beans", quantity=2, unit_price=2400),
            LineItem(name="Grinder", quantity=1, unit_price=8900),
        ],
        customer_email="",
    )

    response = client.get(f"/checkout/{session.public_id}")

    html = response.content.decode()
    assert response.status_code == 200
    assert "Bean There Coffee" in html
    assert "Espresso beans" in html and "Qty 2 · $24.00 each" in html and "$48.00" in html
    assert "Grinder" in html and "$89.00" in html
    assert "Total due" in html and "$137.00" in html
    assert "Test mode" in html and "4000 0000 0000 0002" in html and "4242 4242 4242 4242" in html
    assert 'href="https://merchant.example.com/terms"' in html
    assert 'href="https://merchant.example.com/privacy"' in html
    assert "mailto:support@merchant.example.com" in html
    assert labels(html)[0] == "Email"


def test_live_page_has_no_test_mode_banner(client, settings):
    settings.LIVE_PAYMENT_PROCESSOR = "checkout.processors.test.TestProcessor"
    session = make_session(mode=Mode.LIVE)

    html = client.get(f"/checkout/{session.public_id}").content.decode()

    assert "Test mode" not in html
    assert "4000 0000 0000 0002" not in html


@pytest.mark.parametrize(
    ("currency", "unit_price", "pay_label"),
    [
        ("USD", 7500, r"Pay \$75\.00"),
        ("JPY", 1500, "Pay ¥1,500<"),
        ("KWD", 12345, r"Pay KWD\s?12\.345"),
    ],
)
def test_pay_button_shows_the_amount_in_the_currencys_own_exponent(
    client, currency, unit_price, pay_label
):
    org = OrganizationFactory(currency=currency)
    session = session_ready_to_pay(
        org=org, items=[LineItem(name="Matcha tin", quantity=1, unit_price=unit_price)]
    )

    html = client.get(f"/checkout/{session.public_id}").content.decode()

    assert re.search(pay_label, html.replace("\xa0", " "))
    assert labels(html)[:3] == ["Card number", "Expiry", "CVC"]


def test_amounts_follow_the_customers_locale(client):
    session = session_ready_to_pay(items=[LineItem(name="Tee", quantity=1, unit_price=7500)])

    html = client.get(f"/checkout/{session.public_id}", headers={"Accept-Language": "de-DE"})

    assert "Pay 75,00\xa0$" in html.content.decode()


@pytest.mark.parametrize(
    ("required", "expected_labels"),
    [
        (RequiredFieldSet(), ["Email"]),
        (RequiredFieldSet(phone=True), ["Email", "Phone"]),
        (RequiredFieldSet(location=True), ["Email", "Country", "Postal code"]),
        (
            RequiredFieldSet(shipping_address=True),
            [
                "Email",
                "Full name",
                "Address line 1",
                "Address line 2 (optional)",
                "City",
                "State / province (optional)",
                "Postal code",
                "Country",
            ],
        ),
    ],
)
def test_details_step_asks_for_email_and_each_effective_required_field(
    client, required, expected_labels
):
    session = make_session(required_fields=required, customer_email="")

    html = client.get(f"/checkout/{session.public_id}").content.decode()

    assert labels(html) == expected_labels
    assert "Card number" not in labels(html)  # step 2 comes after the details


def test_required_fields_or_merge_from_org_link_and_session(client):
    org = OrganizationFactory(require_phone=True)
    link = PaymentLinkFactory(org=org, require_location=True)
    session = make_session(
        link=link, required_fields=RequiredFieldSet(shipping_address=True), customer_email=""
    )

    found = labels(client.get(f"/checkout/{session.public_id}").content.decode())

    assert {"Email", "Phone", "Country", "Postal code", "Address line 1"} <= set(found)


def test_saving_details_records_which_fields_and_the_customers_context(client):
    session = make_session(
        required_fields=RequiredFieldSet(phone=True, location=True), customer_email=""
    )

    response = client.post(
        f"/checkout/{session.public_id}/details",
        {
            "email": "erin@example.com",
            "phone": "+44 20 7946 0958",
            "country": "GB",
            "postal_code": "ec1a 1bb",
        },
        headers={"User-Agent": IPHONE},
        REMOTE_ADDR="203.0.113.9",
    )

    session.refresh_from_db()
    assert response.status_code == 303
    assert response["Location"] == f"/checkout/{session.public_id}"
    assert session.customer_email == "erin@example.com"
    assert session.customer_phone == "+44 20 7946 0958"
    assert session.location == "EC1A 1BB GB"
    assert session.ip_address == "203.0.113.9"
    assert session.device_type == "mobile"
    assert session.user_agent == IPHONE
    [event] = TimelineEvent.objects.filter(session=session, kind=EventKind.DETAILS_PROVIDED)
    assert event.data == {"fields": ["email", "phone", "location"]}
    assert "erin" not in str(event.data)


def test_shipping_address_gives_the_customers_location_without_asking_twice(client):
    session = make_session(required_fields=RequiredFieldSet(shipping_address=True, location=True))

    client.post(
        f"/checkout/{session.public_id}/details",
        {
            "email": "fay@example.com",
            "shipping_name": "Fay Wray",
            "shipping_line1": "1 Main St",
            "shipping_city": "Springfield",
            "shipping_postal_code": "94107",
            "shipping_country": "US",
        },
    )

    session.refresh_from_db()
    assert (session.shipping_city, session.location) == ("Springfield", "94107 US")
    event = TimelineEvent.objects.get(session=session, kind=EventKind.DETAILS_PROVIDED)
    assert event.data == {"fields": ["email", "location", "shipping_address"]}


def test_details_errors_are_inline_and_save_nothing(client):
    session = make_session(required_fields=RequiredFieldSet(phone=True), customer_email="")

    response = client.post(
        f"/checkout/{session.public_id}/details", {"email": "not-an-email", "phone": "call me"}
    )

    html = response.content.decode()
    session.refresh_from_db()
    assert response.status_code == 200
    assert "Enter a valid email address" in html
    assert "Enter a valid phone number." in html
    assert session.details_provided_at is None
    assert not TimelineEvent.objects.filter(kind=EventKind.DETAILS_PROVIDED).exists()


def test_details_over_htmx_swap_in_the_card_step(client):
    session = make_session(customer_email="")

    response = client.post(
        f"/checkout/{session.public_id}/details",
        {"email": "gil@example.com"},
        headers={"HX-Request": "true"},
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="checkout-steps"')
    assert "<html" not in html
    assert "gil@example.com" in html and "Card number" in html and "Pay $75.00" in html


def test_details_errors_over_htmx_come_back_inline_in_the_partial(client):
    session = make_session(customer_email="")

    response = client.post(
        f"/checkout/{session.public_id}/details", {"email": ""}, headers={"HX-Request": "true"}
    )

    html = response.content.decode()
    assert html.lstrip().startswith('<div id="checkout-steps"')
    assert "Enter your email address." in html


def test_change_link_reopens_the_details_step_prefilled(client):
    session = session_ready_to_pay(customer_email="")
    session.customer_email = "hal@example.com"  # typed by the customer in step 1
    session.save(update_fields=["customer_email"])

    html = client.get(f"/checkout/{session.public_id}?step=details").content.decode()

    assert 'value="hal@example.com"' in html
    assert "Continue to payment" in html


def test_unknown_session_is_404(client):
    response = client.get("/checkout/cs_test_doesnotexist")

    assert response.status_code == 404
    assert "We can't find this page" in response.content.decode()


def test_paid_session_shows_its_receipt(client):
    session = session_ready_to_pay()
    client.post(
        f"/checkout/{session.public_id}/pay",
        {
            "number": "4242424242424242",
            "expiry": f"12/{(timezone.now().year + 2) % 100}",
            "cvc": "123",
        },
    )

    response = client.get(f"/checkout/{session.public_id}")

    html = response.content.decode()
    assert response.status_code == 200
    assert "This order is paid" in html
    assert f"#{session.order.number}" in html
    assert "Visa •••• 4242" in html
    assert "/portal/" in html
    assert "Card number" not in html
    assert "Total paid" in html and "Total due" not in html


def test_expired_payment_link_session_is_410_and_offers_a_fresh_start(client):
    link = PaymentLinkFactory()
    session = expired_session(link=link)

    response = client.get(f"/checkout/{session.public_id}")

    html = response.content.decode()
    assert response.status_code == 410
    assert "This checkout has expired" in html
    assert f'href="/pay/{link.public_id}"' in html


def test_expired_session_of_a_deactivated_link_offers_no_fresh_start(client):
    link = PaymentLinkFactory()
    session = expired_session(link=link)
    link.is_active = False
    link.save()

    html = client.get(f"/checkout/{session.public_id}").content.decode()

    assert "/pay/" not in html
    assert "ask" in html and "for a new payment link" in html


def test_expired_api_session_is_410_without_a_fresh_start(client):
    session = expired_session()

    response = client.get(f"/checkout/{session.public_id}")

    assert response.status_code == 410
    assert "/pay/" not in response.content.decode()


def test_saving_details_on_an_expired_session_saves_nothing(client):
    session = expired_session()

    response = client.post(f"/checkout/{session.public_id}/details", {"email": "ivy@example.com"})

    session.refresh_from_db()
    assert response.status_code == 303
    assert client.get(response["Location"]).status_code == 410
    assert session.details_provided_at is None


def test_thank_you_page_of_an_unpaid_session_goes_back_to_checkout(client):
    session = make_session()

    response = client.get(f"/checkout/{session.public_id}/thank-you")

    assert response.status_code == 303
    assert response["Location"] == f"/checkout/{session.public_id}"


def test_pages_carry_csp_and_no_inline_script_or_style(client):
    session = session_ready_to_pay()

    response = client.get(f"/checkout/{session.public_id}")

    html = response.content.decode()
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert "style=" not in html and "<style" not in html
    assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", html))
    assert "no-store" in response["Cache-Control"]


def test_htmx_request_for_a_closed_session_reloads_the_whole_page(client):
    session = expired_session()

    response = client.get(
        f"/checkout/{session.public_id}?step=details", headers={"HX-Request": "true"}
    )

    assert response["HX-Redirect"] == f"/checkout/{session.public_id}"


@pytest.mark.parametrize("step", ["details", "pay"])
@pytest.mark.parametrize("method", ["get", "head"])
def test_opening_a_post_only_step_url_goes_to_the_session_page(client, step, method):
    # A no-JS form error leaves /details or /pay in the address bar; reloading it is a GET.
    session = make_session()

    response = getattr(client, method)(f"/checkout/{session.public_id}/{step}")

    assert response.status_code == 303
    assert response["Location"] == f"/checkout/{session.public_id}"
    assert "no-store" in response["Cache-Control"]


@pytest.mark.parametrize("step", ["details", "pay"])
def test_other_methods_on_a_step_url_are_still_refused(client, step):
    session = make_session()

    response = client.put(f"/checkout/{session.public_id}/{step}")

    assert response.status_code == 405


def pay_with_a_test_card(client, session) -> None:
    card = {"number": "4242424242424242", "expiry": f"12/{(timezone.now().year + 2) % 100}"}
    client.post(f"/checkout/{session.public_id}/pay", {**card, "cvc": "123"})


@pytest.mark.parametrize("receipt_path", ["", "/thank-you"])
def test_receipt_pages_of_a_test_payment_say_no_real_money_was_charged(client, receipt_path):
    session = session_ready_to_pay()
    pay_with_a_test_card(client, session)

    html = client.get(f"/checkout/{session.public_id}{receipt_path}").content.decode()

    assert "No real money was charged." in html
    assert "Test mode" in html


@pytest.mark.parametrize("receipt_path", ["", "/thank-you"])
def test_receipt_pages_of_a_live_payment_say_nothing_of_test_mode(client, settings, receipt_path):
    settings.LIVE_PAYMENT_PROCESSOR = "checkout.processors.test.TestProcessor"
    session = session_ready_to_pay(mode=Mode.LIVE)
    pay_with_a_test_card(client, session)

    html = client.get(f"/checkout/{session.public_id}{receipt_path}").content.decode()

    assert "Visa •••• 4242" in html
    assert "No real money" not in html and "Test mode" not in html


def test_email_given_by_the_merchant_is_shown_as_text_not_an_input(client):
    session = make_session(customer_email="merchant-given@example.com")

    html = client.get(f"/checkout/{session.public_id}").content.decode()

    assert re.search(
        r'<span class="field-label">Email</span>\s*'
        r'<span class="field-fixed-value"[^>]*>merchant-given@example.com</span>',
        html,
    )
    assert 'name="email"' not in html
    assert "Continue to payment" in html


@pytest.mark.parametrize("htmx", [False, True])
def test_posted_email_cannot_replace_the_one_the_merchant_gave(client, htmx):
    session = make_session(
        customer_email="merchant-given@example.com",
        required_fields=RequiredFieldSet(phone=True),
    )

    client.post(
        f"/checkout/{session.public_id}/details",
        {"email": "someone-else@example.com", "phone": "+1 415 555 0100"},
        headers={"HX-Request": "true"} if htmx else {},
    )

    session.refresh_from_db()
    assert session.customer_email == "merchant-given@example.com"
    assert session.customer_phone == "+1 415 555 0100"  # the rest of the step is saved
    assert session.details_provided_at is not None


def test_email_the_customer_typed_stays_editable(client):
    session = make_session(customer_email="")
    client.post(f"/checkout/{session.public_id}/details", {"email": "typed@example.com"})

    html = client.get(f"/checkout/{session.public_id}?step=details").content.decode()
    client.post(f"/checkout/{session.public_id}/details", {"email": "retyped@example.com"})

    session.refresh_from_db()
    assert 'name="email" value="typed@example.com"' in html
    assert session.customer_email == "retyped@example.com"


def test_api_keeps_reporting_the_customer_email_its_caller_gave(client, org):
    api = ApiClient(create_api_key(org=org, mode=Mode.TEST)[1])
    created = api.create({**SEED_BODY, "customerEmail": "jenny.rosen@example.com"}).json()

    page = client.get(f"/checkout/{created['id']}").content.decode()
    client.post(f"/checkout/{created['id']}/details", {"email": "mallory@example.com"})
    client.post(f"/checkout/{created['id']}/pay", card_form_data())

    reported = api.get(f"/v0/checkout/sessions/{created['id']}").json()
    assert "jenny.rosen@example.com" in page and 'name="email"' not in page
    assert reported["customerEmail"] == "jenny.rosen@example.com"
    assert Order.objects.get().customer_email == "jenny.rosen@example.com"  # the receipt's too
