"""The demo merchant opens Sales → Orders, switches to the Paid tab, searches by number, opens
an order (items, payment, receipt) and follows the link to its checkout session; at desktop and
phone widths, by mouse and by keyboard, with no CSP violation."""

import io
import re

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from checkout.models import Order
from orgs.models import Organization
from tests.e2e.pages import VIEWPORTS, fits_the_width, log_in


@pytest.fixture
def demo(transactional_db):
    call_command("seed_demo", stdout=io.StringIO())
    return Organization.objects.get(slug="acme")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_demo_merchant_finds_an_order_and_its_session(
    demo, live_server, page, screenshot, console_errors, viewport
):
    page.set_viewport_size(VIEWPORTS[viewport])
    log_in(page, live_server, "demo", "demo")
    page.get_by_role("navigation", name="Dashboard").get_by_role("link", name="Orders").click()
    page.wait_for_url("**/dashboard/acme/test/orders/")
    expect(page.get_by_role("heading", name="Orders", exact=True)).to_be_visible()
    expect(page.locator("tbody tr").first).to_be_visible()
    screenshot(f"dashboard-orders-{viewport}")
    assert fits_the_width(page, viewport)
    assert console_errors == [], "orders list"

    # The list opens on the paid orders; Unpaid and All are a tab away (and Back returns).
    tabs = page.get_by_role("navigation", name="Orders by payment status")
    expect(tabs.get_by_role("link", name="Paid", exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    expect(page.locator("tbody .badge--unpaid")).to_have_count(0)
    tabs.get_by_role("link", name="Unpaid", exact=True).click()
    page.wait_for_url("**/orders/?status=unpaid")
    expect(page.locator("tbody .badge--paid")).to_have_count(0)
    expect(page.locator("tbody .badge--unpaid").first).to_be_visible()
    page.go_back()
    page.wait_for_url("**/dashboard/acme/test/orders/")
    expect(tabs.get_by_role("link", name="Paid", exact=True)).to_have_attribute(
        "aria-current", "page"
    )

    order = (
        Order.objects.for_org(demo, "test")
        .paid()
        .exclude(customer_email="")
        .order_by("number")
        .first()
    )
    page.get_by_label("Search orders").fill(f"#{order.number}")
    page.wait_for_url(re.compile(rf"q=%23{order.number}"))
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody tr")).to_contain_text(order.customer_email)
    screenshot(f"dashboard-orders-search-{viewport}")
    assert console_errors == [], "search"

    page.get_by_role("link", name=f"Order #{order.number}").click()
    page.wait_for_url(f"**/orders/{order.public_id}")
    expect(page.get_by_role("heading", name=f"Order #{order.number}")).to_be_visible()
    items = page.get_by_role("region", name="Items")
    for item in order.items.all():
        expect(items).to_contain_text(item.name)
    expect(page.get_by_role("region", name="Receipts")).to_contain_text(
        f"Sent to {order.customer_email}"
    )
    screenshot(f"dashboard-order-detail-{viewport}")
    assert fits_the_width(page, viewport)
    assert console_errors == [], "order page"

    page.get_by_role("link", name="View checkout session").click()
    page.wait_for_url(f"**/sessions/{order.session.public_id}")
    expect(page.get_by_text(order.session.public_id, exact=True)).to_be_visible()
    assert console_errors == []


def test_back_returns_to_the_searched_list(demo, live_server, page, console_errors):
    log_in(page, live_server, "demo", "demo")
    page.goto(f"{live_server.url}/dashboard/acme/test/orders/?status=all")
    page.get_by_label("Search orders").fill("1")
    page.wait_for_url(re.compile(r"/orders/\?q=1&status=all$"))
    page.locator(".row-link").first.click()
    page.wait_for_url(re.compile(r"/orders/ord_"))
    page.go_back()
    page.wait_for_url(re.compile(r"/orders/\?q=1&status=all$"))
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.get_by_label("Search orders")).to_have_value("1")
    assert console_errors == []


def test_keyboard_opens_an_order_from_the_list(demo, live_server, page):
    log_in(page, live_server, "demo", "demo")
    page.goto(f"{live_server.url}/dashboard/acme/test/orders/")
    page.get_by_label("Search orders").focus()
    for _ in range(6):  # Search, Clear, the tabs (Paid, Unpaid, All), then the first order
        page.keyboard.press("Tab")
    focused = page.locator(".row-link:focus-visible")
    expect(focused).to_have_count(1)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/orders/ord_"))
    expect(page.get_by_role("heading", name=re.compile(r"^Order #\d+"))).to_be_visible()


def test_pages_and_search_work_without_javascript(demo, live_server, browser):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    log_in(page, live_server, "demo", "demo")
    page.goto(f"{live_server.url}/dashboard/acme/test/orders/")
    page.get_by_role("link", name="Older →").click()
    page.wait_for_url(re.compile(r"/orders/\?after=ord_"))
    expect(page.locator("tbody .badge--paid").first).to_be_visible()
    expect(page.locator("tbody .badge--unpaid")).to_have_count(0)
    page.get_by_role("link", name="← Newer").click()
    page.wait_for_url(re.compile(r"/orders/\?before=ord_"))
    page.get_by_label("Search orders").fill("a")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"q=a"))
    for row in page.locator("tbody tr").all():
        expect(row.locator(".cell-customer")).to_contain_text(re.compile(r"^a"))
    context.close()
