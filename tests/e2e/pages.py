"""What the browser tests share besides fixtures: the widths they look at a page in, logging in
through the login form, whether a page fits its width, and a full-page screenshot from the top.
Fixtures (the browser, ``screenshot``, ``console_errors``) stay in conftest.py."""

from playwright.sync_api import Page

VIEWPORTS = {"desktop": {"width": 1280, "height": 860}, "phone": {"width": 390, "height": 844}}
PASSWORD = "correct horse battery staple"  # UserFactory's


def log_in(
    page: Page,
    live_server,
    username: str,
    password: str,
    *,
    start: str = "/dashboard/",
    lands_on: str = "**/dashboard/acme/test/sessions/",
) -> None:
    """Open ``start`` (a page behind the login, or the login page), log in with the form and
    wait until the browser lands on ``lands_on``."""
    page.goto(f"{live_server.url}{start}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lands_on)


def fits_the_width(page: Page, viewport: str) -> bool:
    """Whether the page is no wider than the viewport named ``viewport`` (no sideways scroll)."""
    return page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS[viewport]["width"]


def screenshot_from_top(page: Page, screenshot, name: str) -> None:
    """A full-page screenshot scrolled to the top first: taken scrolled, the sticky test-mode
    band and sidebar would be drawn in the middle of it."""
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(name)
