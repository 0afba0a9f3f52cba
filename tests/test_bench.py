"""make bench on a few hundred sessions: the generated data obeys the product's rules (exact
counts, paid flags, ids, order numbers) and the timing step reports every number."""

import json
import re
from datetime import UTC, datetime, time, timedelta

import pytest
from django.db.models import Count, Max
from django.utils import timezone

from bench.generate import BIG_ORG_SLUG, MIX, ORG_COUNT, generate
from bench.run import run
from checkout import rollup
from checkout.choices import PaymentStatus
from checkout.models import CheckoutSession, Order, OrderCounter, TimelineEvent
from checkout.rollup import status_counts
from orgs.models import Mode, Organization

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SESSIONS = 300
RESULT_KEYS = {
    "sessions",
    "generate_seconds",
    "dashboard_p95_ms",
    "dashboard_queries",
    "checkout_get_ratio",
    "api_create_ratio",
    "api_create_keyed_ratio",
    "pay_flow_ratio",
    "bare_rps",
}


@pytest.fixture
def generated():
    return generate(SESSIONS, log=lambda line: None)


def test_rollup_counts_equal_row_by_row_counts_for_every_org(generated):
    assert Organization.objects.count() == ORG_COUNT
    for org in Organization.objects.all():
        for mode in Mode.values:
            rows = CheckoutSession.objects.for_org(org, mode).status_counts()
            assert status_counts(org, mode) == rows, (org.slug, mode)


def test_funnel_and_decline_reasons_from_the_rollups_equal_the_rows(generated):
    big = Organization.objects.get(slug=BIG_ORG_SLUG)
    last_day = timezone.now().astimezone(UTC).date()
    first_day = last_day - timedelta(days=89)
    rows = CheckoutSession.objects.for_org(big, Mode.TEST).created_between(
        datetime.combine(first_day, time.min, tzinfo=UTC), timezone.now() + timedelta(days=1)
    )
    funnel = rollup.funnel(big, Mode.TEST, first_day=first_day, last_day=last_day)
    assert funnel == rows.funnel()
    assert 0 < funnel.paid < funnel.payment_attempted < funnel.details_provided < funnel.opened
    reasons = rollup.top_decline_reasons(
        big, Mode.TEST, first_day=first_day, last_day=last_day, limit=20
    )
    assert reasons == rows.top_decline_reasons(limit=20)
    assert len(reasons) >= 5


def test_big_org_holds_about_half_the_sessions(generated):
    big = Organization.objects.get(slug=BIG_ORG_SLUG)
    assert 0.4 < CheckoutSession.objects.filter(org=big).count() / SESSIONS < 0.6


def test_paid_flag_payment_facts_and_attempts_agree_with_the_orders(generated):
    sessions = CheckoutSession.objects.all()
    assert sessions.count() == SESSIONS
    assert not sessions.filter(is_paid=True).exclude(order__payment_status=PaymentStatus.PAID)
    assert not sessions.filter(is_paid=False, order__payment_status=PaymentStatus.PAID)
    assert not sessions.filter(is_paid=True, payment_method_last4="")
    assert not sessions.filter(is_paid=True, order__paid_at__gt=timezone.now())
    assert not sessions.succeeded().exclude(events__kind="payment_succeeded")
    attempts = TimelineEvent.objects.filter(kind="payment_failed").values("session")
    per_session = attempts.annotate(n=Count("id")).values_list("session", "n")
    assert {pk: n for pk, n in per_session} == dict(
        sessions.filter(failed_attempts__gt=0).values_list("pk", "failed_attempts")
    )


def test_statuses_follow_the_asked_mix(generated):
    counts = CheckoutSession.objects.status_counts()
    for status, share in MIX.items():
        assert abs(counts[status] / SESSIONS - share) < 0.1, (status, counts)
    assert not CheckoutSession.objects.open().filter(expires_at__lte=timezone.now())


def test_ids_totals_and_order_numbers_are_the_apps(generated):
    for session in CheckoutSession.objects.select_related("order")[:50]:
        assert re.fullmatch(rf"cs_{session.mode}_[A-Za-z0-9]{{32}}", session.public_id)
        assert re.fullmatch(r"ord_[A-Za-z0-9]{32}", session.order.public_id)
        assert session.customer_email == session.customer_email.lower()
        assert session.customer_email.isascii()
    assert not Order.objects.filter(items__isnull=True)
    for order in Order.objects.prefetch_related("items")[:100]:
        assert 1 <= len(order.items.all()) <= 3
        assert order.amount_total == sum(item.amount for item in order.items.all())
    numbers = Order.objects.values("org").annotate(last=Max("number"), n=Count("id"))
    counters = dict(OrderCounter.objects.values_list("org", "last_number"))
    for row in numbers:
        assert row["last"] == row["n"] == counters[row["org"]]


def test_timing_step_writes_every_key_and_a_timing_per_read(tmp_path, settings):
    # As bench/settings.py: the per-key API limit stays on but out of reach of 30 repeats.
    settings.API_RATE_LIMIT_REQUESTS = 10**9
    numbers = run(
        sessions=SESSIONS,
        repeat=30,
        wrk_seconds=0,
        results_dir=tmp_path,
        load=False,
        log=lambda line: None,
    )
    directory = tmp_path
    written = json.loads((directory / "results.json").read_text())
    assert written == numbers
    assert set(written) == RESULT_KEYS
    assert written["sessions"] == SESSIONS
    assert set(written["dashboard_p95_ms"]) == set(written["dashboard_queries"])
    assert {
        "api_list_open",
        "api_list_page_51",
        "tab_counts",
        "sessions_page_all",
        "orders_page",
        "orders_page_deep",
        "orders_search_email",
        "orders_search_number",
        "order_detail_page",
        "session_detail_page",
    } <= set(written["dashboard_p95_ms"])
    assert all(count >= 1 for count in written["dashboard_queries"].values())
    assert "EXPLAIN" in (directory / "results.md").read_text()
