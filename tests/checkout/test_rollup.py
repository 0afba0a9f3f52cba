"""Session counts from the rollup (finished sessions) plus the live rest are exactly the counts
of the rows themselves, whatever happens to the sessions and whenever the rollup runs."""

import random
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from checkout import rollup
from checkout.actors import Actor
from checkout.models import CheckoutSession, Order, RollupWatermark, SessionRollup
from checkout.processors import CardDetails
from checkout.request_context import CustomerContext
from checkout.services import (
    SessionNoLongerActive,
    extend_session_expiry,
    pay_checkout_session,
    save_customer_details,
)
from tests.factories import OrganizationFactory, make_session

pytestmark = pytest.mark.django_db

VISA = CardDetails(number="4242424242424242", exp_month=12, exp_year=2099, cvc="123")
DECLINED = CardDetails(number="4000000000000002", exp_month=12, exp_year=2099, cvc="123")


def counted_row_by_row(org, mode, now):
    return CheckoutSession.objects.for_org(org, mode).status_counts(now)


def daily_row_by_row(org, mode, first_day, last_day, now):
    sessions = CheckoutSession.objects.for_org(org, mode).with_status(now)
    days = {}
    for offset in range((last_day - first_day).days + 1):
        day = first_day + timedelta(days=offset)
        start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
        on_day = sessions.created_between(start, start + timedelta(days=1))
        days[day] = on_day.status_counts(now)
    return days


def test_counts_equal_the_rows_through_random_pays_declines_extensions_and_expiries(settings):
    settings.ROLLUP_SAFETY_MARGIN_SECONDS = 600
    rng = random.Random(20261124)
    orgs = [OrganizationFactory(), OrganizationFactory()]
    start = timezone.now().replace(microsecond=0)
    with time_machine.travel(start, tick=False) as clock:
        for step in range(160):
            action = rng.choice(["create", "create", "pay", "decline", "extend", "wait"])
            live = list(
                CheckoutSession.objects.filter(is_paid=False, expires_at__gt=timezone.now())
            )
            if action == "create" or not live:
                make_session(
                    org=rng.choice(orgs),
                    mode=rng.choice(["test", "live"]),
                    expires_in_minutes=rng.choice([15, 30, 60]),
                )
            elif action in ("pay", "decline"):
                session = rng.choice(live)
                save_customer_details(
                    session=session,
                    details={"customer_email": "jenny@example.com"},
                    context=CustomerContext(),
                )
                pay_checkout_session(
                    session=session,
                    card=VISA if action == "pay" else DECLINED,
                    context=CustomerContext(),
                )
            elif action == "extend":
                extend_session_expiry(
                    session=rng.choice(live), minutes=rng.choice([5, 30]), actor=Actor.system()
                )
            clock.shift(timedelta(minutes=rng.choice([0, 1, 4, 9, 17, 45])))
            if rng.random() < 0.3:
                rollup.advance_rollup()
            now = timezone.now()
            for org in orgs:
                for mode in ("test", "live"):
                    assert rollup.status_counts(org, mode, now) == counted_row_by_row(
                        org, mode, now
                    ), f"step {step}"
        first_day = start.date() - timedelta(days=1)
        last_day = timezone.now().date()
        for org in orgs:
            assert rollup.daily_status_counts(
                org, "test", first_day=first_day, last_day=last_day, now=timezone.now()
            ) == daily_row_by_row(org, "test", first_day, last_day, timezone.now())
    assert SessionRollup.objects.exists()  # the rollup did take over finished sessions
    assert RollupWatermark.objects.get().finished_before > start


def test_the_session_paid_flag_always_agrees_with_its_order(org):
    sessions = [make_session(org=org) for _ in range(4)]
    for session, card in zip(sessions[:2], (VISA, DECLINED), strict=True):
        save_customer_details(
            session=session, details={"customer_email": "a@example.com"}, context=CustomerContext()
        )
        pay_checkout_session(session=session, card=card, context=CustomerContext())

    disagreeing = [
        session.public_id
        for session in CheckoutSession.objects.select_related("order")
        if session.is_paid != (session.order.payment_status == "paid")
    ]

    assert disagreeing == []
    assert Order.objects.filter(payment_status="paid").count() == 1


def test_counts_stay_exact_when_the_rollup_never_ran(org):
    make_session(org=org)
    make_session(org=org, paid=True)
    make_session(org=org, created_at=timezone.now() - timedelta(days=3))

    now = timezone.now()
    counts = rollup.status_counts(org, "test", now)

    assert counts == counted_row_by_row(org, "test", now)
    assert counts == {"all": 3, "open": 1, "succeeded": 1, "failed": 0, "expired": 1}


def test_rebuild_recounts_backdated_sessions_under_the_watermark(org):
    rollup.advance_rollup()
    make_session(org=org, created_at=timezone.now() - timedelta(days=3))  # finished at birth
    make_session(org=org, created_at=timezone.now() - timedelta(days=2), failed_attempts=2)

    rollup.rebuild_rollup()

    now = timezone.now()
    assert rollup.status_counts(org, "test", now) == counted_row_by_row(org, "test", now)
    assert SessionRollup.objects.filter(org=org).count() == 2


def test_counts_are_three_queries_whatever_the_number_of_sessions(org, django_assert_num_queries):
    for _ in range(3):
        make_session(org=org, created_at=timezone.now() - timedelta(days=2))
    rollup.rebuild_rollup()

    with django_assert_num_queries(3):
        rollup.status_counts(org, "test")


def test_an_expired_session_cannot_be_extended_so_finished_means_final(org):
    session = make_session(org=org, created_at=timezone.now() - timedelta(hours=2))

    with pytest.raises(SessionNoLongerActive):
        extend_session_expiry(session=session, minutes=30, actor=Actor.system())


@pytest.mark.django_db(transaction=True)
def test_the_worker_advances_the_rollup_when_it_starts(org, settings):
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
    }
    make_session(org=org, created_at=timezone.now() - timedelta(days=2))

    call_command(
        "db_worker", batch=True, reload=False, startup_delay=False, interval=0, verbosity=0
    )

    watermark = RollupWatermark.objects.get().finished_before
    assert watermark > timezone.now() - timedelta(
        seconds=settings.ROLLUP_SAFETY_MARGIN_SECONDS + 60
    )
    assert SessionRollup.objects.filter(org=org, status="expired").get().count == 1
