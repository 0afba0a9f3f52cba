"""An owner creates a payment link in the dashboard (a price the currency can't hold is refused
beside its field), copies its URL, a customer opens it in another browser and pays with the test
card, and the owner sees that session under the link; then the owner creates an API key, sees
its secret once and uses it against the API. At desktop and phone widths, with no CSP
violation; and the same forms without JavaScript."""

import json
import re
import urllib.request

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from orgs.models import ApiKey, Membership, PaymentLink
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.pages import PASSWORD, VIEWPORTS, fits_the_width, log_in, screenshot_from_top
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

EXPIRY = f"12 / {(timezone.now().year + 3) % 100:02d}"


@pytest.fixture
def owner(transactional_db, live_server, settings):
    # Links, emails and the QR code point at the server the browser talks to.
    settings.SITE_URL = live_server.url
    org = OrganizationFactory(slug="acme", name="Acme Coffee")
    user = UserFactory(username="olivia")
    MembershipFactory(org=org, user=user, role=Membership.Role.OWNER)
    return user


def pay_as_a_customer(browser, url: str) -> None:
    """Another person, in a browser of their own, opens the link and pays with 4242."""
    context = browser.new_context()
    customer = context.new_page()
    customer.goto(url)
    customer.wait_for_url(re.compile(r"/checkout/cs_test_\w+$"))
    customer.get_by_label("Email").fill("grace@example.com")
    customer.get_by_label("Phone").fill("+1 415 555 0100")  # the link asks for it
    customer.get_by_role("button", name="Continue to payment").click()
    customer.get_by_label("Card number").fill("4242 4242 4242 4242")
    customer.get_by_label("Expiry").fill(EXPIRY)
    customer.get_by_label("CVC").fill("123")
    customer.get_by_role("button", name=re.compile(r"^Pay \$24\.00")).click()
    customer.wait_for_url(re.compile(r"/thank-you$"))
    expect(customer.get_by_role("heading", name="Thanks for your payment")).to_be_visible()
    context.close()


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_owner_sells_through_a_new_link_and_uses_a_new_api_key(
    owner, live_server, page, browser, screenshot, console_errors, viewport
):
    page.set_viewport_size(VIEWPORTS[viewport])
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    log_in(page, live_server, "olivia", PASSWORD)

    # Products → Payment links → New
    page.get_by_role("navigation", name="Dashboard").get_by_role(
        "link", name="Payment links"
    ).click()
    expect(page.get_by_role("heading", name="Payment links")).to_be_visible()
    page.get_by_role("link", name="New payment link").click()
    page.get_by_label("Name").fill("Espresso beans, 1 kg")
    page.get_by_label("Description").fill("Single origin, roasted this week.")
    page.get_by_label("Unit price").fill("24.005")
    page.get_by_role("button", name="Create payment link").click()
    price_error = page.locator("#id_price_error")
    expect(price_error).to_contain_text("at most 2 decimals in USD")
    expect(page.get_by_label("Unit price")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Unit price")).to_be_focused()  # keyboard users go on from there
    assert not PaymentLink.objects.exists()
    screenshot_from_top(page, screenshot, f"dashboard-link-form-error-{viewport}")
    assert fits_the_width(page, viewport) and console_errors == [], "form"

    page.get_by_label("Unit price").fill("24.00")
    page.get_by_label("Phone number").check()
    page.get_by_role("button", name="Create payment link").click()
    page.wait_for_url(re.compile(r"/dashboard/acme/test/links/plink_\w+$"))
    link = PaymentLink.objects.get()
    assert (link.unit_price, link.require_phone) == (2400, True)
    expect(page.get_by_text("Payment link created: Espresso beans, 1 kg.")).to_be_visible()

    # The link's page: its URL (copied with one click) and its QR code.
    url_field = page.get_by_label("Payment link URL")
    public_url = f"{live_server.url}/pay/{link.public_id}"
    expect(url_field).to_have_value(public_url)
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_text("Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == public_url
    qr = page.get_by_role("img", name=re.compile("QR code of"))
    expect(qr).to_be_visible()
    assert qr.evaluate("image => image.complete && image.naturalWidth > 0")
    screenshot_from_top(page, screenshot, f"dashboard-link-page-{viewport}")
    assert fits_the_width(page, viewport) and console_errors == [], "link page"

    # A customer pays through it, in a browser of their own.
    pay_as_a_customer(browser, public_url)

    page.reload()
    sessions = page.get_by_role("region", name="Sessions")
    expect(sessions.get_by_text("grace@example.com")).to_be_visible()
    expect(sessions.locator(".badge--succeeded")).to_be_visible()
    screenshot_from_top(page, screenshot, f"dashboard-link-page-paid-{viewport}")
    page.get_by_role("link", name="All 1 session of this link →").click()
    page.wait_for_url(f"**/dashboard/acme/test/sessions/?link={link.public_id}")
    expect(page.locator(".row-link")).to_have_count(1)
    expect(page.locator(".row-link")).to_contain_text("grace@example.com")

    page.get_by_role("navigation", name="Dashboard").get_by_role(
        "link", name="Payment links"
    ).click()
    row = page.locator("tbody tr", has_text="Espresso beans, 1 kg")
    expect(row).to_contain_text("$24.00")
    expect(row).to_contain_text("100.0%")
    screenshot_from_top(page, screenshot, f"dashboard-links-list-{viewport}")
    assert fits_the_width(page, viewport) and console_errors == [], "links list"

    # Settings → API keys: the secret once, and it works.
    page.get_by_role("navigation", name="Dashboard").get_by_role("link", name="API keys").click()
    page.get_by_label("Name").fill("Web server")
    page.get_by_role("button", name="Create key").click()
    secret_field = page.get_by_label("Secret key")
    expect(secret_field).to_have_value(re.compile(r"^sk_test_[A-Za-z0-9]{48}$"))
    secret = secret_field.input_value()
    expect(page.get_by_text("shown only this once")).to_be_visible()
    expect(page.get_by_role("heading", name="Your new key: Web server")).to_be_focused()
    screenshot_from_top(page, screenshot, f"dashboard-api-keys-secret-{viewport}")
    assert fits_the_width(page, viewport) and console_errors == [], "keys"

    request = urllib.request.Request(
        f"{live_server.url}/v0/checkout/sessions?limit=1",
        headers={"Authorization": f"Bearer {secret}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our server
        assert response.status == 200
        assert json.load(response)["data"][0]["customerEmail"] == "grace@example.com"

    page.get_by_role("link", name="Done — I've stored it").click()
    expect(page.locator("tbody tr", has_text="Web server")).to_contain_text("Active")
    assert secret not in page.content()
    screenshot_from_top(page, screenshot, f"dashboard-api-keys-list-{viewport}")
    assert console_errors == []


def test_revoking_a_key_needs_a_second_click_and_ends_it_at_once(
    owner, live_server, page, screenshot, console_errors
):
    page.set_viewport_size(VIEWPORTS["desktop"])
    log_in(page, live_server, "olivia", PASSWORD)
    page.goto(f"{live_server.url}/dashboard/acme/test/api-keys/")
    page.get_by_label("Name").fill("Old server")
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_label("Secret key").input_value()
    api_key = ApiKey.objects.get()

    page.get_by_text("Revoke…").click()
    screenshot_from_top(page, screenshot, "dashboard-api-keys-revoke-confirm-desktop")
    assert not ApiKey.objects.get().is_revoked  # opening the confirmation changes nothing
    page.get_by_role("button", name=f"Revoke {api_key.masked}").click()
    expect(page.get_by_text(f"Revoked {api_key.masked}")).to_be_visible()
    expect(page.locator("tbody tr", has_text="Old server")).to_contain_text("Revoked")

    request = urllib.request.Request(
        f"{live_server.url}/v0/checkout/sessions", headers={"Authorization": f"Bearer {secret}"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)  # noqa: S310 - our server
    assert refused.value.code == 401
    assert console_errors == []


@pytest.mark.browser_context_args(java_script_enabled=False)
def test_links_and_keys_work_without_javascript(owner, live_server, page, screenshot):
    log_in(page, live_server, "olivia", PASSWORD)
    page.goto(f"{live_server.url}/dashboard/acme/test/links/new")
    page.get_by_label("Name").fill("Pour-over kit")
    page.get_by_label("Currency").select_option("JPY")
    page.get_by_label("Unit price").fill("12.5")
    page.get_by_role("button", name="Create payment link").click()
    expect(page.locator("#id_price_error")).to_contain_text("can't have decimals in JPY")
    page.get_by_label("Unit price").fill("1200")
    page.get_by_role("button", name="Create payment link").click()
    page.wait_for_url(re.compile(r"/links/plink_\w+$"))
    assert PaymentLink.objects.get().unit_price == 1200
    # No script: no copy button, the read-only field to copy from by hand.
    expect(page.get_by_role("button", name="Copy")).to_be_hidden()
    expect(page.get_by_label("Payment link URL")).to_have_attribute("readonly", "")
    page.get_by_role("button", name="Deactivate").click()
    expect(page.get_by_text("Payment link deactivated: customers")).to_be_visible()
    screenshot_from_top(page, screenshot, "dashboard-link-page-nojs")

    page.goto(f"{live_server.url}/dashboard/acme/test/api-keys/")
    page.get_by_label("Name").fill("Cron job")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_label("Secret key")).to_have_value(re.compile(r"^sk_test_"))
    page.get_by_text("Revoke…").click()
    page.get_by_role("button", name=re.compile(r"^Revoke sk_test_")).click()
    expect(page.get_by_text(re.compile(r"^Revoked sk_test_"))).to_be_visible()
    assert ApiKey.objects.get().is_revoked
    page.screenshot(path=ARTIFACTS / "dashboard-api-keys-nojs.png", full_page=True)
