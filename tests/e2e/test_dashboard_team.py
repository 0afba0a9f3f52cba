"""An owner invites a teammate from Settings → Team; the teammate opens the emailed link in
their own browser, creates an account, lands on the dashboard and can log in again; the
password reset pages work end to end. Desktop and phone widths, no CSP violation."""

import re

import pytest
from django.conf import settings
from django.core import mail
from playwright.sync_api import expect

from orgs.models import Membership
from tests.e2e.pages import PASSWORD, VIEWPORTS, fits_the_width, log_in
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

NEW_PASSWORD = "plum-orchard-kettle-42"


@pytest.fixture
def acme(transactional_db):
    org = OrganizationFactory(slug="acme", name="Acme Coffee")
    MembershipFactory(org=org, role="owner", user=UserFactory(username="olivia"))
    MembershipFactory(org=org, role="member", user=UserFactory(username="marco"))
    return org


def watch_console(page) -> list[str]:
    """Console errors (CSP violations included) of a page in another browser context."""
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def emailed_link(path_start: str) -> str:
    body = mail.outbox[-1].body
    return re.search(rf"{re.escape(settings.SITE_URL)}({re.escape(path_start)}\S+)", body)[1]


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_owner_invites_a_teammate_who_joins_from_the_email(
    acme, live_server, page, browser, screenshot, console_errors, viewport
):
    page.set_viewport_size(VIEWPORTS[viewport])
    log_in(page, live_server, "olivia", PASSWORD, start="/accounts/login/")
    page.get_by_role("link", name="Team").click()
    page.wait_for_url("**/dashboard/acme/test/team/")
    expect(page.get_by_role("heading", name="Team", exact=True)).to_be_visible()
    expect(page.get_by_text("The only owner")).to_be_visible()

    page.get_by_label("Email address").fill("Jenny@Example.com")
    page.get_by_label("Role").select_option("member")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_text("Invitation sent to jenny@example.com.")).to_be_visible()
    invitations = page.get_by_role("region", name=re.compile("Pending invitations"))
    expect(invitations.get_by_text("jenny@example.com", exact=True)).to_be_visible()
    expect(invitations.get_by_text(re.compile("Email sent"))).to_be_visible()
    # The swap keeps the keyboard where it was.
    expect(page.get_by_role("button", name="Send invitation")).to_be_focused()
    assert fits_the_width(page, viewport)
    screenshot(f"dashboard-team-{viewport}")
    assert console_errors == [], "after inviting"

    # The teammate's own browser, with the link from the email.
    link = emailed_link("/dashboard/invitations/")
    theirs = browser.new_context(viewport=VIEWPORTS[viewport]).new_page()
    their_errors = watch_console(theirs)
    theirs.goto(f"{live_server.url}{link}")
    expect(theirs.get_by_role("heading", name="Join Acme Coffee")).to_be_visible()
    expect(theirs.get_by_label("Email")).to_have_value("jenny@example.com")
    theirs.get_by_label("Username").fill("jenny")
    theirs.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    theirs.get_by_label("Password again").fill(NEW_PASSWORD)
    assert fits_the_width(theirs, viewport)
    screenshot(f"invitation-accept-{viewport}", target=theirs)
    theirs.get_by_role("button", name="Create account and join").click()
    theirs.wait_for_url("**/dashboard/acme/test/sessions/")
    expect(theirs.get_by_text("Welcome to Acme Coffee.")).to_be_visible()
    expect(theirs.get_by_role("heading", name="Checkout sessions")).to_be_visible()
    assert Membership.objects.get(org=acme, user__username="jenny").role == "member"

    # Logged out, they log in again with the password they chose.
    theirs.get_by_role("button", name="Log out").click()
    theirs.wait_for_url("**/accounts/login/")
    log_in(theirs, live_server, "jenny", NEW_PASSWORD, start="/accounts/login/")
    expect(theirs.get_by_role("heading", name="Checkout sessions")).to_be_visible()

    assert their_errors == []

    # The link worked once: a 410 page (the browser logs the status, nothing else).
    theirs.goto(f"{live_server.url}{link}")
    expect(theirs.get_by_role("heading", name="This invitation was already used")).to_be_visible()
    screenshot(f"invitation-used-{viewport}", target=theirs)
    assert [error for error in their_errors if "(Gone)" not in error] == []

    # The owner sees the new member, and the activity.
    page.reload()
    members = page.get_by_role("region", name=re.compile("Members"))
    expect(members.get_by_text("jenny", exact=True)).to_be_visible()
    expect(page.get_by_text("jenny joined as member")).to_be_visible()
    theirs.context.close()
    assert console_errors == []


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_owner_removes_a_member_with_a_confirmation(
    acme, live_server, page, screenshot, console_errors, viewport
):
    page.set_viewport_size(VIEWPORTS[viewport])
    log_in(page, live_server, "olivia", PASSWORD, start="/accounts/login/")
    page.goto(f"{live_server.url}/dashboard/acme/test/team/")
    page.locator("summary").filter(has_text="Remove: marco").click()
    expect(page.get_by_text("Remove marco from Acme Coffee?")).to_be_visible()
    assert fits_the_width(page, viewport)
    screenshot(f"dashboard-team-remove-{viewport}")
    page.get_by_role("button", name="Remove marco").click()
    expect(page.get_by_text("marco was removed from the team.")).to_be_visible()
    assert not Membership.objects.filter(org=acme, user__username="marco").exists()
    assert console_errors == []


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_password_reset_pages(acme, live_server, page, screenshot, console_errors, viewport):
    page.set_viewport_size(VIEWPORTS[viewport])
    page.goto(f"{live_server.url}/accounts/login/")
    assert fits_the_width(page, viewport)
    screenshot(f"account-login-{viewport}")
    page.get_by_role("link", name="Forgot password?").click()
    page.wait_for_url("**/accounts/password_reset/")
    page.get_by_label("Email").fill("olivia@example.com")
    assert fits_the_width(page, viewport)
    screenshot(f"account-reset-request-{viewport}")
    page.get_by_role("button", name="Email me a link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    screenshot(f"account-reset-sent-{viewport}")

    page.goto(f"{live_server.url}{emailed_link('/accounts/reset/')}")
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    page.get_by_label("New password", exact=True).fill("123")
    page.get_by_label("New password confirmation").fill("123")
    page.get_by_role("button", name="Set new password").click()
    expect(page.get_by_text("This password is too short.")).to_be_visible()
    assert fits_the_width(page, viewport)
    screenshot(f"account-reset-new-password-{viewport}")
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set new password").click()
    expect(page.get_by_role("heading", name="Your new password is set")).to_be_visible()
    screenshot(f"account-reset-done-{viewport}")
    page.get_by_role("link", name="Log in").click()
    log_in(page, live_server, "olivia", NEW_PASSWORD, start="/accounts/login/")
    assert console_errors == []
