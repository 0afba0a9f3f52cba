"""The demo merchant logs in, lands on Checkout sessions, switches tabs (the URL follows, Back
returns), searches by email, and sees a new session appear without reloading; at desktop and
phone widths, with no CSP violation."""

import io
import re

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from checkout.models import CheckoutSession
from orgs.models import Organization
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.pages import VIEWPORTS, fits_the_width, log_in
from tests.factories import card_form_data, make_session, session_ready_to_pay


@pytest.fixture
def demo(transactional_db):
    call_command("seed_demo", stdout=io.StringIO())
    return Organization.objects.get(slug="acme")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_demo_merchant_works_the_sessions_list(
    demo, live_server, page, screenshot, console_errors, viewport
):
    page.set_viewport_size(VIEWPORTS[viewport])
    log_in(page, live_server, "demo", "demo")
    expect(page.get_by_role("heading", name="Checkout sessions")).to_be_visible()
    expect(page.get_by_text("Test mode", exact=True).first).to_be_visible()
    tabs = page.get_by_role("navigation", name="Sessions by status")
    expect(tabs.get_by_role("link", name=re.compile(r"^All \d+"))).to_have_attribute(
        "aria-current", "page"
    )
    screenshot(f"dashboard-sessions-{viewport}")
    page.screenshot(path=ARTIFACTS / f"dashboard-sessions-{viewport}-fold.png", caret="initial")
    assert fits_the_width(page, viewport)
    assert console_errors == [], "after login"

    tabs.get_by_role("link", name=re.compile(r"^Failed")).click()
    page.wait_for_url("**/sessions/?status=failed")
    failed_tab = tabs.get_by_role("link", name=re.compile(r"^Failed"))
    expect(failed_tab).to_have_attribute("aria-current", "page")
    expect(page.locator(".badge--failed").first).to_be_visible()
    expect(page.locator("tbody .badge--succeeded")).to_have_count(0)
    screenshot(f"dashboard-sessions-failed-{viewport}")
    assert console_errors == [], "after tab"

    page.go_back()
    page.wait_for_url("**/dashboard/acme/test/sessions/")
    expect(tabs.get_by_role("link", name=re.compile(r"^All"))).to_have_attribute(
        "aria-current", "page"
    )
    assert console_errors == [], "after back"

    email = (
        CheckoutSession.objects.for_org(demo, "test")
        .exclude(customer_email="")
        .values_list("customer_email", flat=True)
        .first()
    )
    prefix = email.split("@")[0]
    page.get_by_label("Search sessions").fill(prefix)
    page.wait_for_url(f"**/sessions/?q={prefix}")
    expect(page.locator(".row-link").first).to_contain_text(prefix)
    for link in page.locator(".row-link").all():
        expect(link).to_contain_text(prefix)
    screenshot(f"dashboard-sessions-search-{viewport}")
    assert console_errors == []


def test_a_new_session_appears_without_a_reload(demo, live_server, page, console_errors):
    log_in(page, live_server, "demo", "demo")
    all_tab = page.get_by_role("navigation", name="Sessions by status").get_by_role(
        "link", name=re.compile(r"^All")
    )
    before = int(all_tab.inner_text().split()[-1])
    make_session(org=demo, customer_email="walk-in@example.com")
    expect(page.get_by_text("walk-in@example.com")).to_be_visible(timeout=12_000)
    expect(all_tab).to_contain_text(str(before + 1))
    assert console_errors == []


def test_a_payment_in_another_browser_appears_in_the_succeeded_count_without_a_reload(
    demo, live_server, page, browser, console_errors
):
    log_in(page, live_server, "demo", "demo")
    succeeded_tab = page.get_by_role("navigation", name="Sessions by status").get_by_role(
        "link", name=re.compile(r"^Succeeded")
    )
    before = int(succeeded_tab.inner_text().split()[-1])
    session = make_session(org=demo, customer_email="")

    # The customer, in a browser of their own, pays on the hosted page.
    context = browser.new_context()
    customer = context.new_page()
    customer.goto(f"{live_server.url}/checkout/{session.public_id}")
    customer.get_by_label("Email").fill("counter-walk-in@example.com")
    customer.get_by_role("button", name="Continue to payment").click()
    customer.get_by_label("Card number").fill("4242 4242 4242 4242")
    customer.get_by_label("Expiry").fill(f"12 / {(timezone.now().year + 3) % 100:02d}")
    customer.get_by_label("CVC").fill("123")
    customer.get_by_role("button", name=re.compile(r"^Pay \$75\.00")).click()
    customer.wait_for_url(re.compile(r"/thank-you$"))
    context.close()

    # The merchant's open list catches up by itself: the count and the row.
    expect(succeeded_tab).to_contain_text(str(before + 1), timeout=12_000)
    row = page.get_by_role("row").filter(has_text="counter-walk-in@example.com")
    expect(row).to_be_visible()
    expect(row).to_contain_text(re.compile("succeeded", re.IGNORECASE))
    assert console_errors == []


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_a_card_testers_session_shows_blocked_under_the_orgs_alarm(
    demo, live_server, page, screenshot, console_errors, settings, viewport
):
    settings.CARD_TESTING_ALARM_DECLINES = 5
    session = session_ready_to_pay(org=demo, customer_email="card-tester@example.net")
    card_tester = Client(REMOTE_ADDR="198.51.100.77")
    for _ in range(6):
        card_tester.post(
            f"/checkout/{session.public_id}/pay", card_form_data(number="4000 0000 0000 0002")
        )

    page.set_viewport_size(VIEWPORTS[viewport])
    log_in(page, live_server, "demo", "demo")
    alarm = page.locator("#card-testing-alarm")
    expect(alarm).to_contain_text("Card-testing alarm")
    expect(alarm).to_contain_text("5 declined payments in 10 minutes")
    row = page.get_by_role("row").filter(has_text="card-tester@example.net")
    expect(row.locator(".block-flag")).to_have_text(re.compile(r"^5 Blocked"))
    screenshot(f"dashboard-sessions-blocked-{viewport}")
    assert fits_the_width(page, viewport)

    alarm.get_by_role("link", name=session.public_id).click()
    page.wait_for_url(f"**/sessions/{session.public_id}")
    expect(page.locator("#payment-block")).to_contain_text(
        "Payments blocked: too many declines on this session."
    )
    screenshot(f"dashboard-session-blocked-{viewport}")
    assert console_errors == []


def test_keyboard_reaches_the_tabs_with_a_visible_focus(demo, live_server, page):
    log_in(page, live_server, "demo", "demo")
    first_tab = page.locator(".tab").first
    first_tab.focus()
    page.keyboard.press("Tab")
    focused = page.locator(".tab:focus-visible")
    expect(focused).to_have_count(1)
    assert focused.evaluate("el => getComputedStyle(el).outlineStyle") == "solid"


def set_visibility(page, state: str) -> None:
    page.evaluate(
        """state => {
            const visibility = { get: () => state, configurable: true };
            Object.defineProperty(document, "visibilityState", visibility);
            document.dispatchEvent(new Event("visibilitychange"));
        }""",
        state,
    )


def test_nothing_polls_while_the_browser_tab_is_hidden(demo, live_server, page):
    polls = []
    page.on("request", lambda request: "/sessions/poll" in request.url and polls.append(request))
    log_in(page, live_server, "demo", "demo")
    page.wait_for_timeout(5_500)
    assert polls  # every 5 s while visible
    set_visibility(page, "hidden")
    page.wait_for_timeout(500)
    asked = len(polls)
    page.wait_for_timeout(11_000)
    assert len(polls) == asked
    set_visibility(page, "visible")  # coming back asks at once
    page.wait_for_timeout(500)
    assert len(polls) == asked + 1


def test_tabs_search_and_pages_work_without_javascript(demo, live_server, browser):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    log_in(page, live_server, "demo", "demo")
    tabs = page.get_by_role("navigation", name="Sessions by status")
    tabs.get_by_role("link", name=re.compile(r"^Succeeded")).click()
    page.wait_for_url("**/sessions/?status=succeeded")
    expect(page.locator("tbody .badge--succeeded").first).to_be_visible()
    expect(page.locator("tbody .badge--failed")).to_have_count(0)
    page.get_by_role("link", name="Older →").click()
    page.wait_for_url(re.compile(r"status=succeeded.*after=cs_test_"))
    page.get_by_label("Search sessions").fill("a")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"q=a.*status=succeeded|status=succeeded.*q=a"))
    expect(tabs.get_by_role("link", name=re.compile(r"^Succeeded"))).to_have_attribute(
        "aria-current", "page"
    )
    for link in page.locator(".row-link").all():
        expect(link).to_contain_text("a")
    context.close()


def figure_count(text: str) -> int:
    return int(re.search(r"\d+", text.replace(",", ""))[0])


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_funnel_step_and_decline_reason_open_their_sessions(
    demo, live_server, page, screenshot, console_errors, viewport
):
    page.set_viewport_size(VIEWPORTS[viewport])
    log_in(page, live_server, "demo", "demo")
    insights = page.get_by_role("region", name="Last 14 days")
    expect(insights.get_by_role("heading", name="Checkout funnel")).to_be_visible()
    expect(insights.get_by_role("heading", name="Top decline reasons")).to_be_visible()
    insights.screenshot(
        path=ARTIFACTS / f"dashboard-sessions-insights-{viewport}.png", caret="initial"
    )
    assert fits_the_width(page, viewport)
    tabs = page.get_by_role("navigation", name="Sessions by status")
    all_tab = tabs.get_by_role("link", name=re.compile(r"^All"))

    # A funnel step: the list of the sessions that attempted a payment in the 14 days.
    attempted = insights.locator(".funnel-reached", has_text="Payment attempted")
    attempted_count = figure_count(attempted.locator(".funnel-count").inner_text())
    assert attempted_count > 0
    attempted.click()
    page.wait_for_url(re.compile(r"step=payment_attempted"))
    expect(all_tab).to_contain_text(str(attempted_count))
    expect(page.locator("select[name=step]")).to_have_value("payment_attempted")
    expect(page.locator("tbody .badge--open")).to_have_count(0)
    expect(page.locator("tbody .badge--expired")).to_have_count(0)
    screenshot(f"dashboard-sessions-funnel-step-{viewport}")
    tabs.scroll_into_view_if_needed()
    page.screenshot(
        path=ARTIFACTS / f"dashboard-sessions-funnel-step-{viewport}-list.png", caret="initial"
    )

    # A decline reason: the sessions with such a decline, each with a failed attempt.
    page.go_back()
    page.wait_for_url("**/dashboard/acme/test/sessions/")
    reason = insights.locator(".decline-reason a").first
    code = reason.locator(".decline-code").inner_text()
    sessions = figure_count(reason.locator(".decline-count").inner_text().split("·")[1])
    reason.click()
    page.wait_for_url(re.compile(rf"reason={code}"))
    expect(all_tab).to_contain_text(str(sessions))
    expect(page.locator("select[name=reason]")).to_have_value(code)
    rows = page.locator("tbody tr")
    expect(rows.first).to_be_visible()
    for row in rows.all():
        expect(row.locator(".cell-status .badge")).to_have_class(
            re.compile(r"badge--(failed|succeeded)")
        )
    screenshot(f"dashboard-sessions-decline-reason-{viewport}")
    assert console_errors == []
