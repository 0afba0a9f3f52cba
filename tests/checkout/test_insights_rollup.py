"""The funnel, the decline reasons and the funnel-step and decline-reason tab counts read from
the rollups plus the unfinished sessions equal the same numbers counted row by row, whatever
the customers do and whenever the rollup advances; the page's one read of the unfinished
sessions gives the poll's change marker."""

import random
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from checkout import rollup
from checkout.actors import Actor
from checkout.models import CheckoutSession, DeclineRollup, SessionRollup, TimelineEvent
from checkout.processors import CardDetails
from checkout.request_context import CustomerContext
from checkout.services import extend_session_expiry, pay_checkout_session, save_customer_details
from tests.factories import OrganizationFactory, make_session

pytestmark = pytest.mark.django_db

CARDS = [
    "4242424242424242",  # paid
    "4000000000000002",  # generic_decline
    "4000000000009995",  # insufficient_funds
    "4000000000000069",  # expired_card
    "4000000000000127",  # incorrect_cvc
    "4000000000009987",  # lost_card
    "4000000000000119",  # processing_error
]
STEP_FILTERS = [
    "details_provided",
    "payment_attempted",
    "paid",
    "dropped_details_provided",
    "dropped_payment_attempted",
    "dropped_paid",
]


def card(number: str) -> CardDetails:
    return CardDetails(number=number, exp_month=12, exp_year=2099, cvc="123")


def period_rows(org, mode, first_day, last_day):
    start = datetime.combine(first_day, datetime.min.time(), tzinfo=UTC)
    end = datetime.combine(last_day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    return CheckoutSession.objects.for_org(org, mode).created_between(start, end)


def step_rows(sessions, step):
    if step.startswith("dropped_"):
        return sessions.dropped_at_step(step.removeprefix("dropped_"))
    return sessions.reached_step(step)


def assert_rollups_equal_rows(org, mode, first_day, last_day, label):
    now = timezone.now()
    unfinished = rollup.read_unfinished(org, mode, now)
    rows = period_rows(org, mode, first_day, last_day)
    assert (
        rollup.funnel(org, mode, first_day=first_day, last_day=last_day, unfinished=unfinished)
        == rows.funnel()
    ), label
    by_rollup = rollup.top_decline_reasons(
        org, mode, first_day=first_day, last_day=last_day, limit=50, unfinished=unfinished
    )
    assert by_rollup == rows.top_decline_reasons(limit=50), label
    for step in STEP_FILTERS:
        assert rollup.status_counts(
            org, mode, unfinished=unfinished, first_day=first_day, last_day=last_day, step=step
        ) == step_rows(rows, step).status_counts(now), (label, step)
    for reason in {row.reason for row in by_rollup} | {"lost_card"}:
        assert rollup.decline_reason_status_counts(
            org, mode, reason, first_day=first_day, last_day=last_day, unfinished=unfinished
        ) == rows.with_decline_reason(reason).status_counts(now), (label, reason)
    everything = CheckoutSession.objects.for_org(org, mode)
    assert unfinished.change_marker == everything.change_marker(since=now, now=now), label


def customer_step(rng, live):
    """One thing a customer does to one of the open sessions."""
    session = rng.choice(live)
    if session.details_provided_at is None or rng.random() < 0.2:
        save_customer_details(
            session=session,
            details={"customer_email": "jenny@example.com"},
            context=CustomerContext(),
        )
        if rng.random() < 0.5:
            return
    # A customer whose card was declined often pays with another one.
    number = CARDS[0] if session.failed_attempts and rng.random() < 0.4 else rng.choice(CARDS)
    pay_checkout_session(session=session, card=card(number), context=CustomerContext())


def test_funnel_reasons_and_filtered_counts_equal_the_rows_through_random_operations(settings):
    settings.ROLLUP_SAFETY_MARGIN_SECONDS = 600
    rng = random.Random(20261124)
    orgs = [OrganizationFactory(), OrganizationFactory()]
    start = timezone.now().replace(microsecond=0)
    advanced = 0
    with time_machine.travel(start, tick=False) as clock:
        for step in range(220):
            live = list(
                CheckoutSession.objects.filter(is_paid=False, expires_at__gt=timezone.now())
            )
            action = rng.choice(["create", "create", "customer", "customer", "extend", "wait"])
            if action == "create" or not live:
                make_session(
                    org=rng.choice(orgs),
                    mode=rng.choice(["test", "live"]),
                    expires_in_minutes=rng.choice([15, 30, 60]),
                )
            elif action == "customer":
                customer_step(rng, live)
            elif action == "extend":
                extend_session_expiry(
                    session=rng.choice(live), minutes=rng.choice([5, 30]), actor=Actor.system()
                )
            # Minutes, sometimes hours: sessions fall on several days.
            clock.shift(timedelta(minutes=rng.choice([0, 1, 4, 9, 17, 45, 180])))
            if rng.random() < 0.3:
                rollup.advance_rollup()
                advanced += 1
            if step % 10 == 9:
                today = timezone.now().astimezone(UTC).date()
                for org in orgs:
                    for mode in ("test", "live"):
                        for days in (1, 3, 14):
                            first_day = today - timedelta(days=days - 1)
                            assert_rollups_equal_rows(
                                org, mode, first_day, today, f"step {step}, {days} days"
                            )
    assert advanced > 10
    # The rollups did take over finished sessions and their declines, mid-way.
    assert SessionRollup.objects.filter(details_provided__gt=0).exists()
    assert DeclineRollup.objects.filter(paid_sessions__gt=0).exists()
    assert DeclineRollup.objects.values("reason").distinct().count() >= 4


def test_rebuild_recounts_declines_and_details_of_backdated_sessions(org):
    rollup.advance_rollup()
    three_days_ago = timezone.now() - timedelta(days=3)
    with time_machine.travel(three_days_ago, tick=False):
        declined = make_session(org=org)
        save_customer_details(
            session=declined, details={"customer_email": "a@example.com"}, context=CustomerContext()
        )
        pay_checkout_session(session=declined, card=card(CARDS[2]), context=CustomerContext())
        pay_checkout_session(session=declined, card=card(CARDS[2]), context=CustomerContext())
    make_session(org=org, created_at=three_days_ago)
    assert not DeclineRollup.objects.exists()

    rollup.rebuild_rollup()

    day = three_days_ago.astimezone(UTC).date()
    reasons = DeclineRollup.objects.get(org=org, day=day)
    assert (reasons.reason, reasons.declines, reasons.sessions, reasons.paid_sessions) == (
        "insufficient_funds",
        2,
        1,
        0,
    )
    assert SessionRollup.objects.get(org=org, day=day, status="failed").details_provided == 1
    assert_rollups_equal_rows(org, "test", day, timezone.now().date(), "rebuilt")


def test_the_unfinished_sessions_are_read_in_two_queries_whatever_their_number(
    org, django_assert_num_queries
):
    for _ in range(3):
        make_session(org=org)
    with django_assert_num_queries(2):
        rollup.read_unfinished(org, "test")
    for minutes in range(0, 40 * 45, 45):  # over two days, some still open
        make_session(org=org, created_at=timezone.now() - timedelta(minutes=minutes))
    with django_assert_num_queries(2):
        rollup.read_unfinished(org, "test")


def test_a_periods_insights_cost_the_same_queries_with_5_and_200_declined_sessions(
    org, django_assert_num_queries
):
    def insights():
        unfinished = rollup.read_unfinished(org, "test")
        today = timezone.now().date()
        rollup.period_counts(
            org, "test", first_day=today - timedelta(days=13), last_day=today, unfinished=unfinished
        )
        rollup.top_decline_reasons(
            org, "test", first_day=today - timedelta(days=13), last_day=today, unfinished=unfinished
        )

    def declined_sessions(count):
        for index in range(count):
            session = make_session(
                org=org, created_at=timezone.now() - timedelta(minutes=index % 50)
            )
            TimelineEvent.objects.create(
                session=session,
                kind="payment_failed",
                actor_kind="customer",
                data={"code": "card_declined", "decline_code": "insufficient_funds"},
            )
            CheckoutSession.objects.filter(pk=session.pk).update(failed_attempts=1)

    declined_sessions(5)
    # watermark, unfinished; rollup days; decline rollup, declined ids, their events
    with django_assert_num_queries(6):
        insights()
    declined_sessions(195)
    with django_assert_num_queries(6):
        insights()


def test_a_storm_of_declined_unfinished_sessions_is_counted_with_one_join(org, monkeypatch):
    for outcome in (CARDS[2], CARDS[2], CARDS[5]):
        session = make_session(org=org)
        save_customer_details(
            session=session, details={"customer_email": "a@example.com"}, context=CustomerContext()
        )
        pay_checkout_session(session=session, card=card(outcome), context=CustomerContext())
    today = timezone.now().astimezone(UTC).date()
    by_ids = rollup.top_decline_reasons(org, "test", first_day=today, last_day=today)
    monkeypatch.setattr(rollup, "LIVE_DECLINED_BY_ID", 2)

    by_join = rollup.top_decline_reasons(org, "test", first_day=today, last_day=today)

    assert by_join == by_ids == period_rows(org, "test", today, today).top_decline_reasons()
    assert [(row.reason, row.count, row.sessions) for row in by_join] == [
        ("insufficient_funds", 2, 2),
        ("lost_card", 1, 1),
    ]
