"""An owner opens Checkout settings, is told why a callback URL is refused, saves a good one,
reveals and rotates the test-mode signing secret, sends a test callback to a real receiver on
127.0.0.1 and redelivers a failed callback; at desktop and phone widths, with no CSP
violation; and the same without JavaScript."""

import pytest
from django.db import transaction
from playwright.sync_api import expect
from standardwebhooks import Webhook

from checkout.callbacks import enqueue_session_callback
from checkout.choices import CallbackEvent
from checkout.models import CallbackDelivery
from orgs.models import CallbackSecret, Membership, Mode, Organization
from tests.checkout.callback_receiver import CallbackReceiver
from tests.e2e.pages import PASSWORD, VIEWPORTS, fits_the_width, log_in, screenshot_from_top
from tests.factories import MembershipFactory, OrganizationFactory, make_session, signing_secret

SETTINGS = "/dashboard/acme/test/settings/"


@pytest.fixture
def owner(transactional_db):
    org = OrganizationFactory(slug="acme", name="Acme Coffee")
    return MembershipFactory(org=org, role=Membership.Role.OWNER, user__username="owner").user


@pytest.fixture
def receiver():
    with CallbackReceiver(body=b'{"received": true}') as receiver:
        yield receiver


def failed_delivery(org, receiver) -> CallbackDelivery:
    """A completed callback the receiver answered 500 to (its one attempt in tests)."""
    receiver.statuses.append(500)
    session = make_session(org=org, callback_url=receiver.url, customer_email="jenny@example.com")
    with transaction.atomic():
        delivery = enqueue_session_callback(session=session, event_type=CallbackEvent.COMPLETED)
    delivery.refresh_from_db()
    assert delivery.status == CallbackDelivery.Status.FAILED
    return delivery


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_owner_manages_checkout_settings(
    owner, receiver, live_server, page, screenshot, console_errors, viewport
):
    org = Organization.objects.get(slug="acme")
    failed = failed_delivery(org, receiver)
    page.set_viewport_size(VIEWPORTS[viewport])
    log_in(page, live_server, "owner", PASSWORD, start=SETTINGS, lands_on=f"**{SETTINGS}")
    expect(page.get_by_role("heading", name="Checkout settings")).to_be_visible()
    secret = signing_secret(org, Mode.TEST)
    masked = page.locator("#secret-value")
    expect(masked).to_have_text(f"whsec_…{secret[-4:]}")
    screenshot_from_top(page, screenshot, f"dashboard-settings-{viewport}")
    assert fits_the_width(page, viewport)
    assert console_errors == [], "on load"

    # A callback URL that is not http(s): the error sits under the field, nothing is saved.
    callback_url = page.get_by_label("Callback URL")
    callback_url.fill("ftp://x")
    page.get_by_role("button", name="Save settings").click()
    error = page.locator("#id_callback_url_error")
    expect(error).to_have_text("Enter a full URL, starting with https:// (or http://).")
    expect(callback_url).to_have_attribute("aria-invalid", "true")
    expect(callback_url).to_be_focused()
    screenshot_from_top(page, screenshot, f"dashboard-settings-error-{viewport}")
    callback_url.fill("ftp://merchant.example.com/hooks")
    page.get_by_role("button", name="Save settings").click()
    expect(error).to_contain_text("must be http:// or https://")
    assert Organization.objects.get(pk=org.pk).callback_url == ""

    callback_url.fill(receiver.url)
    page.get_by_label("Fraud flag after").fill("2")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Checkout settings saved.")).to_be_visible()
    expect(page.locator("#test-callback")).to_contain_text(receiver.url)
    org.refresh_from_db()
    assert (org.callback_url, org.fraud_flag_threshold) == (receiver.url, 2)
    assert console_errors == [], "after saving"

    # Reveal, then rotate: a new masked value and until when the previous one verifies.
    page.get_by_role("button", name="Reveal").click()
    expect(page.locator("#secret-value")).to_have_text(secret)
    screenshot_from_top(page, screenshot, f"dashboard-settings-revealed-{viewport}")
    page.get_by_text("Rotate secret…").click()
    page.get_by_role("button", name="Rotate test secret now").click()
    expect(page.get_by_text("The test signing secret was rotated.")).to_be_visible()
    new_secret = CallbackSecret.objects.for_org(org, Mode.TEST).current().get().secret
    assert new_secret != secret
    expect(page.locator("#secret-value")).to_have_text(f"whsec_…{new_secret[-4:]}")
    expect(page.locator(".previous-secret")).to_contain_text(
        f"Previous secret whsec_…{secret[-4:]} valid until"
    )
    screenshot_from_top(page, screenshot, f"dashboard-settings-rotated-{viewport}")

    # A test callback to the receiver: signed with both secrets during the overlap.
    page.get_by_role("button", name="Send test callback").click()
    result = page.locator(".callback-result")
    expect(result).to_contain_text("[200]")
    expect(result).to_contain_text('{"received": true}')
    callback = receiver.received[-1]
    assert Webhook(new_secret).verify(callback.body, callback.headers)["type"] == "callback.test"
    Webhook(secret).verify(callback.body, callback.headers)
    screenshot_from_top(page, screenshot, f"dashboard-settings-test-callback-{viewport}")

    # The failed delivery, sent again: same webhook-id, delivered this time.
    page.get_by_role("button", name=f"Redeliver {failed.public_id}").click()
    expect(page.get_by_text(f"{failed.public_id} was sent again and delivered")).to_be_visible()
    assert receiver.received[-1].headers["webhook-id"] == failed.public_id
    expect(page.locator("#settings-activity")).to_contain_text("Callback redelivered")
    screenshot_from_top(page, screenshot, f"dashboard-settings-redelivered-{viewport}")
    assert fits_the_width(page, viewport)
    assert console_errors == []


def test_the_secret_and_a_test_callback_work_without_javascript(
    owner, receiver, live_server, browser
):
    org = Organization.objects.get(slug="acme")
    Organization.objects.filter(pk=org.pk).update(callback_url=receiver.url)
    secret = signing_secret(org, Mode.TEST)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    log_in(page, live_server, "owner", PASSWORD, start=SETTINGS, lands_on=f"**{SETTINGS}")

    page.get_by_role("button", name="Reveal").click()
    expect(page.locator("#secret-value")).to_have_text(secret)
    page.get_by_role("link", name="Hide").click()
    expect(page.locator("#secret-value")).to_have_text(f"whsec_…{secret[-4:]}")

    page.get_by_text("Rotate secret…").click()  # <details>: no script needed
    page.get_by_role("button", name="Rotate test secret now").click()
    page.wait_for_url("**/settings/#callback-secret")
    expect(page.locator(".previous-secret")).to_contain_text(f"whsec_…{secret[-4:]}")

    page.get_by_role("button", name="Send test callback").click()
    page.wait_for_url("**/settings/#test-callback")
    expect(page.locator(".callback-result")).to_contain_text("[200]")
    assert len(receiver.received) == 1
    context.close()


def test_a_member_sees_the_settings_but_no_action(owner, live_server, page, screenshot):
    org = Organization.objects.get(slug="acme")
    MembershipFactory(org=org, role=Membership.Role.MEMBER, user__username="member")
    page.set_viewport_size(VIEWPORTS["phone"])
    log_in(page, live_server, "member", PASSWORD, start=SETTINGS, lands_on=f"**{SETTINGS}")
    expect(page.get_by_label("Callback URL")).to_be_disabled()
    expect(page.get_by_role("button", name="Reveal")).to_have_count(0)
    expect(page.get_by_role("button", name="Save settings")).to_have_count(0)
    screenshot_from_top(page, screenshot, "dashboard-settings-member-phone")
