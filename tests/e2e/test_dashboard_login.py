"""The demo merchant logs in and sees the dashboard shell with live counts."""

import io

from django.core.management import call_command


def test_demo_user_logs_in_and_sees_status_counts(
    transactional_db, live_server, page, screenshot, console_errors
):
    call_command("seed_demo", stdout=io.StringIO())

    page.goto(f"{live_server.url}/dashboard/")
    page.get_by_label("Username").fill("demo")
    page.get_by_label("Password").fill("demo")
    page.get_by_role("button", name="Log in").click()

    page.wait_for_url("**/dashboard/")
    assert page.get_by_role("heading", name="Acme Coffee Co. (test mode)").is_visible()
    assert page.get_by_text("Succeeded").is_visible()
    screenshot("dashboard-shell")
    assert console_errors == []
