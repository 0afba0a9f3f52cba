"""The checkout funnel and the top decline reasons (checkout/queries.py) for one org, one mode
and one period: counts compared with the ones worked out by hand, in a fixed number of
queries whatever the number of sessions."""

from datetime import timedelta

import pytest
from django.utils import timezone

from checkout.models import CheckoutSession
from checkout.processors import CardDetails
from checkout.request_context import CustomerContext
from checkout.services import pay_checkout_session, save_customer_details
from orgs.models import Mode
from tests.factories import OrganizationFactory, expired_session, make_session

pytestmark = pytest.mark.django_db

CARDS = {
    "success": "4242424242424242",
    "generic_decline": "4000000000000002",
    "insufficient_funds": "4000000000009995",
    "expired_card": "4000000000000069",
    "incorrect_cvc": "4000000000000127",
    "lost_card": "4000000000009987",
}


def details(session):
    return save_customer_details(
        session=session,
        details={"customer_email": session.customer_email or "c@example.com"},
        context=CustomerContext(),
    )


def pay(session, *outcomes: str):
    """The customer tries each card in turn (as the hosted page does)."""
    for outcome in outcomes:
        card = CardDetails(number=CARDS[outcome], exp_month=12, exp_year=2099, cvc="123")
        pay_checkout_session(session=session, card=card, context=CustomerContext())
    return session


def period_sessions(org, mode=Mode.TEST, days=14):
    now = timezone.now()
    return CheckoutSession.objects.for_org(org, mode).created_between(
        now - timedelta(days=days), now + timedelta(seconds=1)
    )


def test_funnel_counts_each_step_as_counted_by_hand(org, django_assert_num_queries):
    make_session(org=org)  # a: opened
    details(make_session(org=org))  # b: details
    pay(details(make_session(org=org)), "success")  # c: paid
    pay(details(make_session(org=org)), "insufficient_funds", "success")  # d: declined, paid
    pay(details(make_session(org=org)), "expired_card", "incorrect_cvc")  # e: declined twice
    expired_session(org=org)  # f: opened, left
    make_session(org=OrganizationFactory())  # another org
    make_session(org=org, mode=Mode.LIVE)  # the live mode
    make_session(org=org, created_at=timezone.now() - timedelta(days=15))  # before the period

    with django_assert_num_queries(1):
        funnel = period_sessions(org).funnel()

    assert (funnel.opened, funnel.details_provided, funnel.payment_attempted, funnel.paid) == (
        6,
        4,
        3,
        2,
    )
    assert [(step.name, step.count, step.dropped) for step in funnel.steps] == [
        ("opened", 6, 0),
        ("details_provided", 4, 2),
        ("payment_attempted", 3, 1),
        ("paid", 2, 1),
    ]
    assert funnel.conversion_rate == pytest.approx(2 / 6)


def test_funnel_of_a_period_without_sessions_is_all_zero(org):
    funnel = period_sessions(org).funnel()

    assert [step.count for step in funnel.steps] == [0, 0, 0, 0]
    assert funnel.conversion_rate == 0.0


def test_top_decline_reasons_count_each_declined_attempt_by_its_reason(
    org, django_assert_num_queries
):
    pay(details(make_session(org=org)), "insufficient_funds", "generic_decline", "success")
    pay(
        details(make_session(org=org)),
        "insufficient_funds",
        "insufficient_funds",
        "expired_card",
    )
    pay(details(make_session(org=org)), "incorrect_cvc")
    pay(details(make_session(org=org)), "expired_card")
    pay(details(make_session(org=OrganizationFactory())), "lost_card", "lost_card")
    old = pay(details(make_session(org=org)), "lost_card")
    CheckoutSession.objects.filter(pk=old.pk).update(  # before the period
        created_at=timezone.now() - timedelta(days=15)
    )

    with django_assert_num_queries(1):
        reasons = period_sessions(org).top_decline_reasons()

    assert [(row.reason, row.count) for row in reasons] == [
        ("insufficient_funds", 3),
        ("expired_card", 2),
        ("generic_decline", 1),
        ("incorrect_cvc", 1),
    ]
    assert str(reasons[0].explanation).startswith("insufficient_funds — the card has too little")


def test_top_decline_reasons_keeps_the_most_frequent_up_to_the_limit(org):
    pay(details(make_session(org=org)), "incorrect_cvc", "incorrect_cvc", "expired_card")
    pay(details(make_session(org=org)), "lost_card")

    reasons = period_sessions(org).top_decline_reasons(limit=2)

    assert [(row.reason, row.count) for row in reasons] == [
        ("incorrect_cvc", 2),
        ("expired_card", 1),
    ]


def test_top_decline_reasons_of_a_period_without_declines_is_empty(org):
    pay(details(make_session(org=org)), "success")

    assert period_sessions(org).top_decline_reasons() == []


def test_funnel_and_reasons_make_the_same_queries_with_5_and_200_sessions(
    org, django_assert_num_queries
):
    for _ in range(5):
        pay(details(make_session(org=org)), "insufficient_funds")
    with django_assert_num_queries(2):
        period_sessions(org).funnel()
        period_sessions(org).top_decline_reasons()
    sessions = [make_session(org=org) for _ in range(195)]
    CheckoutSession.objects.filter(pk__in=[s.pk for s in sessions]).update(failed_attempts=1)

    with django_assert_num_queries(2):
        funnel = period_sessions(org).funnel()
        reasons = period_sessions(org).top_decline_reasons()

    assert (funnel.opened, funnel.payment_attempted) == (200, 200)
    assert [(row.reason, row.count) for row in reasons] == [("insufficient_funds", 5)]
