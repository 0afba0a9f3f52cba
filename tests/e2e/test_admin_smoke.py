"""Smoke test: an operator logs into Django admin and sees the checkout sessions list."""

from django.core.management import call_command

from checkout.models import CheckoutSession


def test_staff_user_logs_into_admin_and_sees_checkout_sessions(
    transactional_db, live_server, page, screenshot, console_errors
):
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    from django.contrib.auth import get_user_model

    get_user_model().objects.filter(username="demo").update(is_staff=True, is_superuser=True)
    a_session = CheckoutSession.objects.order_by("-created_at").first()

    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Username").fill("demo")
    page.get_by_label("Password").fill("demo")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Checkout sessions").click()

    page.wait_for_url("**/admin/checkout/checkoutsession/")
    assert page.get_by_role("link", name=a_session.public_id).is_visible()
    assert page.get_by_role("link", name="Failed").first.is_visible()  # derived status filter
    screenshot("admin-checkout-sessions")
    assert console_errors == []
