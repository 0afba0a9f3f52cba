"""A merchant works a checkout session's page in a real browser, on a desktop (1280) and a phone
(390×844): reads why a payment failed and what to do next, recovers the sale and follows the
link to the new session, copies a paid session's portal link and opens it from the clipboard,
resends a receipt and sees it on the timeline, and opens the order. With no CSP violation, no
sideways scrolling, and the same actions without JavaScript."""

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from checkout.choices import DeviceType
from checkout.models import CheckoutSession
from checkout.processors import CardDetails
from checkout.request_context import CustomerContext
from checkout.services import pay_checkout_session, save_customer_details
from tests.e2e.pages import PASSWORD, VIEWPORTS, fits_the_width, log_in
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory, make_session

IPHONE = CustomerContext(
    ip_address="198.51.100.23",
    user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    device_type=DeviceType.MOBILE,
)
INSUFFICIENT_FUNDS = (
    "insufficient_funds — the card has too little money; the customer can try another card"
)


@pytest.fixture
def shop(transactional_db, settings, live_server):
    # Portal links are absolute (SITE_URL): point them at this test's server.
    settings.SITE_URL = live_server.url
    org = OrganizationFactory(slug="acme", name="Acme Coffee Co.")
    MembershipFactory(org=org, user=UserFactory(username="jenny"))
    return org


def customer_pays(org, email: str, *cards: str) -> CheckoutSession:
    """A customer gives their details and tries each card, through the real services."""
    session = make_session(org=org, customer_email="")
    session = save_customer_details(
        session=session,
        details={
            "customer_email": email,
            "customer_country": "GB",
            "customer_postal_code": "EC1A 1BB",
        },
        context=IPHONE,
    )
    for number in cards:
        card = CardDetails(number=number, exp_month=12, exp_year=2099, cvc="123")
        pay_checkout_session(session=session, card=card, context=IPHONE)
    return session


def open_session(page, live_server, session) -> None:
    page.goto(f"{live_server.url}/dashboard/acme/test/sessions/{session.public_id}")
    expect(page.get_by_role("heading", name="Timeline")).to_be_visible()


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_merchant_reads_why_a_payment_failed_and_recovers_the_sale(
    shop, live_server, page, screenshot, console_errors, viewport
):
    failed = customer_pays(shop, "grace@example.com", "4000000000009995")
    page.set_viewport_size(VIEWPORTS[viewport])
    log_in(page, live_server, "jenny", PASSWORD)
    open_session(page, live_server, failed)

    timeline = page.locator("#session-timeline")
    step = timeline.locator("li", has_text="Payment failed (insufficient_funds)")
    expect(step).to_be_visible()
    expect(step.locator(".step-explanation")).to_have_text(INSUFFICIENT_FUNDS)
    expect(step).to_contain_text("Your card has insufficient funds.")  # the processor's message
    expect(page.locator(".panel--customer")).to_contain_text("United Kingdom, EC1A 1BB")
    screenshot(f"dashboard-session-failed-{viewport}")
    assert fits_the_width(page, viewport)
    assert console_errors == [], "failed session"

    page.get_by_role("button", name="Email recovery link").click()
    expect(page.get_by_role("status").filter(has_text="Recovery email on its way")).to_be_focused()
    recovery = CheckoutSession.objects.get(recovered_from=failed)
    assert [email.to for email in mail.outbox] == [["grace@example.com"]]
    expect(page.get_by_text(re.compile(r"Last recovery email just now by jenny"))).to_be_visible()
    expect(page.get_by_role("button", name="Email recovery link")).to_be_disabled()
    screenshot(f"dashboard-session-recovered-{viewport}")

    recovered_by = timeline.locator("li", has_text="Recovery session created")
    expect(recovered_by).to_contain_text(f"Recovered by {recovery.public_id}")
    recovered_by.get_by_role("link", name=recovery.public_id).click()
    page.wait_for_url(f"**/sessions/{recovery.public_id}")
    details = page.locator(".panel--details")
    expect(details).to_contain_text(f"Recovery of {failed.public_id}")
    expect(page.locator("#session-timeline")).to_contain_text(f"Recovery of {failed.public_id}")
    screenshot(f"dashboard-session-recovery-{viewport}")
    assert fits_the_width(page, viewport)
    assert console_errors == []


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_merchant_copies_the_portal_link_and_opens_it_from_the_clipboard(
    shop, live_server, page, screenshot, console_errors, viewport
):
    paid = customer_pays(shop, "alice@example.com", "4000000000000002", "4242424242424242")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.set_viewport_size(VIEWPORTS[viewport])
    log_in(page, live_server, "jenny", PASSWORD)
    open_session(page, live_server, paid)

    page.get_by_role("button", name="Copy portal link").click()
    expect(page.get_by_role("status").filter(has_text="Copied to the clipboard.")).to_be_visible()
    expect(page.get_by_role("button", name="Copied ✓")).to_be_visible()
    screenshot(f"dashboard-session-copied-{viewport}")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == page.get_by_label("Customer portal link").input_value()
    assert copied.startswith(f"{live_server.url}/portal/")
    assert console_errors == []

    page.goto(copied)
    expect(page.get_by_text(f"#{paid.order.number}").first).to_be_visible()
    expect(page.get_by_text("alice@example.com").first).to_be_visible()
    screenshot(f"dashboard-session-portal-{viewport}")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_merchant_resends_a_receipt_and_opens_the_order(
    shop, live_server, page, screenshot, console_errors, viewport
):
    paid = customer_pays(shop, "alice@example.com", "4242424242424242")
    receipts = len(mail.outbox)
    page.set_viewport_size(VIEWPORTS[viewport])
    log_in(page, live_server, "jenny", PASSWORD)
    open_session(page, live_server, paid)
    timeline = page.locator("#session-timeline")
    expect(timeline.locator("li", has_text="Receipt sent")).to_have_count(1)

    page.get_by_role("button", name="Resend receipt").click()
    expect(page.get_by_role("status").filter(has_text="is being sent again")).to_be_visible()
    resent = timeline.locator("li", has_text="Receipt sent").nth(1)
    expect(resent.locator(".step-actor")).to_have_text("jenny")
    assert len(mail.outbox) == receipts + 1
    expect(page.get_by_text("Last sent just now by jenny.")).to_be_visible()
    screenshot(f"dashboard-session-receipt-{viewport}")
    assert fits_the_width(page, viewport)

    page.locator("#action-order").get_by_role("link", name="View order").click()
    page.wait_for_url(f"**/dashboard/acme/test/orders/{paid.order.public_id}")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert console_errors == []


def test_recover_and_copy_work_without_javascript(shop, live_server, browser, screenshot):
    failed = customer_pays(shop, "grace@example.com", "4000000000000069")
    paid = customer_pays(shop, "alice@example.com", "4242424242424242")
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.set_viewport_size(VIEWPORTS["phone"])
    log_in(page, live_server, "jenny", PASSWORD)

    open_session(page, live_server, failed)
    page.get_by_role("button", name="Write it yourself").click()
    recovery = CheckoutSession.objects.get(recovered_from=failed)
    page.wait_for_url(f"**/sessions/{failed.public_id}?draft={recovery.public_id}")
    draft = page.get_by_role("link", name="Open email draft")
    assert draft.get_attribute("href").startswith("mailto:grace@example.com?subject=")
    expect(page.get_by_text(f"New checkout session {recovery.public_id} created")).to_be_visible()
    screenshot("dashboard-session-mailto-nojs", target=page)

    open_session(page, live_server, paid)
    expect(page.get_by_label("Customer portal link")).to_have_value(re.compile(r"/portal/"))
    expect(page.get_by_role("button", name="Copy portal link")).to_be_hidden()  # needs JS
    page.get_by_role("button", name="Resend receipt").click()
    expect(page.get_by_text("is being sent again")).to_be_visible()
    context.close()


def test_keyboard_reaches_the_actions_with_a_visible_focus(shop, live_server, page):
    failed = customer_pays(shop, "grace@example.com", "4000000000000002")
    page.set_viewport_size(VIEWPORTS["desktop"])
    log_in(page, live_server, "jenny", PASSWORD)
    open_session(page, live_server, failed)

    page.locator("header .button").focus()  # View order, in the header
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Email recovery link":
            break
    focused = page.locator("button:focus-visible")
    expect(focused).to_have_text("Email recovery link")
    assert focused.evaluate("el => getComputedStyle(el).outlineStyle") == "solid"
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").filter(has_text="Recovery email on its way")).to_be_focused()
