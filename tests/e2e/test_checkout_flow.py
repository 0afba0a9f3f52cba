"""A customer pays through a payment link in a real browser: details, a mistyped card number
(inline error), a declined card with the reason shown, then a successful payment and the
thank-you page — on a desktop, on a phone (390×844) and with JavaScript turned off.
Screenshots of every step go to test-artifacts/."""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from checkout.choices import EventKind, PaymentStatus
from checkout.models import CheckoutSession, TimelineEvent
from tests.e2e.pages import VIEWPORTS, fits_the_width
from tests.factories import OrganizationFactory, PaymentLinkFactory, expired_session

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
EXPIRY = f"12 / {(timezone.now().year + 3) % 100:02d}"


def pay_through_a_payment_link(page: Page, live_server, screenshot, prefix: str):
    """The whole customer journey; returns the session it paid."""
    org = OrganizationFactory(name="Bean There Coffee")
    link = PaymentLinkFactory(
        org=org, name="Espresso beans, 1 kg", unit_price=2400, quantity=2, require_location=True
    )

    page.goto(f"{live_server.url}/pay/{link.public_id}")
    page.wait_for_url(re.compile(r"/checkout/cs_test_\w+$"))
    expect(page.get_by_text("Bean There Coffee").first).to_be_visible()
    expect(page.get_by_text("$48.00").first).to_be_visible()
    expect(page.get_by_text("Test mode").first).to_be_visible()
    screenshot(f"{prefix}-1-details")

    page.get_by_label("Email").fill("grace@example.com")
    page.get_by_label("Country").select_option("US")
    page.get_by_label("Postal code").fill("94107")
    page.get_by_role("button", name="Continue to payment").click()
    expect(page.get_by_label("Card number")).to_be_visible()
    expect(page.get_by_text("grace@example.com")).to_be_visible()
    screenshot(f"{prefix}-2-card")

    page.get_by_label("Card number").fill("4242 4242 4242 4241")  # a typo: fails the Luhn check
    page.get_by_label("Expiry").fill(EXPIRY)
    page.get_by_label("CVC").fill("123")
    page.get_by_role("button", name=re.compile(r"^Pay \$48\.00")).click()
    expect(page.get_by_text("Your card number is invalid.")).to_be_visible()
    screenshot(f"{prefix}-3-format-error")

    page.get_by_label("Card number").fill("4000 0000 0000 0002")
    page.get_by_label("Expiry").fill(EXPIRY)
    page.get_by_label("CVC").fill("123")
    page.get_by_role("button", name=re.compile(r"^Pay \$48\.00")).click()
    expect(page.get_by_role("alert")).to_contain_text("Your card was declined")
    screenshot(f"{prefix}-4-declined")

    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry").fill(EXPIRY)
    page.get_by_label("CVC").fill("123")
    page.get_by_role("button", name=re.compile(r"^Pay \$48\.00")).click()
    page.wait_for_url(re.compile(r"/thank-you$"))
    expect(page.get_by_role("heading", name="Thanks for your payment")).to_be_visible()
    expect(page.get_by_text("Visa •••• 4242")).to_be_visible()
    screenshot(f"{prefix}-5-thank-you")

    session = CheckoutSession.objects.select_related("order").get(payment_link=link)
    assert session.order.payment_status == PaymentStatus.PAID
    assert session.failed_attempts == 1  # the typo was not an attempt; the decline was
    assert session.location == "94107 US"
    kinds = list(TimelineEvent.objects.filter(session=session).values_list("kind", flat=True))
    assert kinds[:4] == [
        EventKind.SESSION_CREATED,
        EventKind.DETAILS_PROVIDED,
        EventKind.PAYMENT_FAILED,
        EventKind.PAYMENT_SUCCEEDED,
    ]
    return session


def test_customer_pays_on_a_desktop_after_a_decline(
    transactional_db, live_server, page, screenshot, console_errors
):
    page.set_viewport_size(VIEWPORTS["desktop"])

    session = pay_through_a_payment_link(page, live_server, screenshot, "checkout-desktop")

    assert session.device_type == "desktop"
    # The thank-you page links to this receipt only; all purchases are behind the emailed link.
    page.get_by_role("link", name="Save a link to this receipt").click()
    expect(page.get_by_role("heading", name="Your receipt")).to_be_visible()
    expect(page.get_by_text(f"Order #{session.order.number}")).to_be_visible()
    screenshot("checkout-desktop-6-portal")
    assert console_errors == []


@pytest.mark.browser_context_args(
    viewport=VIEWPORTS["phone"],
    device_scale_factor=2,
    is_mobile=True,
    has_touch=True,
    user_agent=IPHONE,
)
def test_customer_pays_on_a_phone_after_a_decline(
    transactional_db, live_server, page, screenshot, console_errors
):
    session = pay_through_a_payment_link(page, live_server, screenshot, "checkout-phone")

    assert session.device_type == "mobile"
    # The line items fold under the amount; one tap shows them.
    page.goto(f"{live_server.url}/pay/{session.payment_link.public_id}")
    items = page.locator(".summary-fold .line-items")
    expect(items).to_be_hidden()
    page.get_by_text("Order details").click()
    expect(items).to_contain_text("Qty 2 · $24.00 each")
    screenshot("checkout-phone-6-order-details")
    # Nothing is wider than the phone's screen.
    assert fits_the_width(page, "phone")
    assert console_errors == []


@pytest.mark.browser_context_args(java_script_enabled=False)
def test_customer_pays_with_javascript_disabled(
    transactional_db, live_server, page, screenshot, console_errors
):
    session = pay_through_a_payment_link(page, live_server, screenshot, "checkout-nojs")

    assert session.order.payment_status == PaymentStatus.PAID
    assert console_errors == []


def test_expired_checkout_offers_a_fresh_start_in_the_browser(
    transactional_db, live_server, page, screenshot, console_errors
):
    link = PaymentLinkFactory(org=OrganizationFactory(name="Bean There Coffee"))
    session = expired_session(link=link)

    page.goto(f"{live_server.url}/checkout/{session.public_id}")
    expect(page.get_by_role("heading", name="This checkout has expired")).to_be_visible()
    screenshot("checkout-expired")
    page.get_by_role("link", name="Start a new checkout").click()

    page.wait_for_url(re.compile(r"/checkout/cs_test_\w+$"))
    expect(page.get_by_label("Email")).to_be_visible()
    # Chromium logs every document answered with an error status; the 410 is the point here.
    assert [e for e in console_errors if "status of 410" not in e] == []


def test_focus_follows_each_htmx_step_for_keyboard_users(
    transactional_db, live_server, page, screenshot, console_errors
):
    page.set_viewport_size(VIEWPORTS["desktop"])
    link = PaymentLinkFactory(org=OrganizationFactory(name="Bean There Coffee"), unit_price=2400)
    page.goto(f"{live_server.url}/pay/{link.public_id}")

    # Details, submitted from the keyboard: focus moves to the card step's heading.
    page.get_by_label("Email").fill("grace@example.com")
    page.keyboard.press("Enter")
    card_heading = page.locator("#card-step").get_by_role("heading", name="Payment")
    expect(card_heading).to_be_focused()
    screenshot("checkout-focus-1-card-step")

    # A card format error: focus moves to the invalid field.
    page.get_by_label("Card number").fill("4242 4242 4242 4241")
    page.get_by_label("Expiry").fill(EXPIRY)
    page.get_by_label("CVC").fill("123")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Your card number is invalid.")).to_be_visible()
    expect(page.get_by_label("Card number")).to_be_focused()
    screenshot("checkout-focus-2-invalid-field")

    # A decline has no invalid field: focus moves to the alert that says why.
    page.get_by_label("Card number").fill("4000 0000 0000 0002")
    page.get_by_label("CVC").fill("123")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_be_focused()
    screenshot("checkout-focus-3-declined")

    # "Change" reopens the details step: focus moves to its heading.
    page.get_by_role("link", name="Change").click()
    expect(page.get_by_role("heading", name="Your details")).to_be_focused()
    assert console_errors == []
