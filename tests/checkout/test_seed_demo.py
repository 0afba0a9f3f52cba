"""seed_demo: the demo data `make run` shows, idempotent and covering every status."""

import io

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from checkout.models import CheckoutSession, Order, TimelineEvent
from orgs.models import Mode, Organization, PaymentLink
from tests.logins import login_request

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def table_counts() -> dict[str, int]:
    return {
        "sessions": CheckoutSession.objects.count(),
        "orders": Order.objects.count(),
        "events": TimelineEvent.objects.count(),
        "links": PaymentLink.objects.count(),
        "orgs": Organization.objects.count(),
    }


def test_running_twice_gives_the_same_counts():
    first_output = seed()
    first = table_counts()
    second_output = seed()
    assert table_counts() == first
    assert "300/300 sessions" in first_output  # progress is reported
    assert "already present" in second_output


def test_every_status_is_present_with_a_few_hundred_sessions():
    seed()
    acme = Organization.objects.get(slug="acme")
    counts = CheckoutSession.objects.for_org(acme, Mode.TEST).status_counts()
    assert counts["all"] >= 200
    for status in ("open", "succeeded", "failed", "expired"):
        assert counts[status] >= 10, status


def test_demo_user_can_log_in_and_belongs_to_acme():
    seed()
    user = authenticate(login_request(), username="demo", password="demo")
    assert user is not None
    assert user.memberships.get().org.slug == "acme"


def test_failed_sessions_have_decline_codes_and_context_on_their_timeline():
    seed()
    failed = CheckoutSession.objects.failed().select_related("order").first()
    kinds = list(failed.events.values_list("kind", flat=True))
    assert kinds[0] == "session_created"
    assert "details_provided" in kinds and "payment_failed" in kinds
    decline = failed.events.filter(kind="payment_failed").first()
    assert decline.data["code"] and decline.data["last4"]
    assert failed.ip_address and failed.device_type and failed.customer_email


def test_sessions_span_the_last_fourteen_days():
    seed()
    oldest = CheckoutSession.objects.order_by("created_at").first().created_at
    newest = CheckoutSession.objects.order_by("-created_at").first().created_at
    assert (newest - oldest).days >= 10
