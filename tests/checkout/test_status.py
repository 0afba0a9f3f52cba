"""The derived status rule (SPEC "Derived status"), computed, filtered and counted in SQL."""

from datetime import timedelta

import pytest
from django.utils import timezone

from checkout.models import CheckoutSession
from tests.factories import make_session

pytestmark = pytest.mark.django_db


def status_of(session, now=None) -> str:
    return CheckoutSession.objects.with_status(now).get(pk=session.pk).status


def test_paid_session_with_failed_attempts_is_succeeded():
    session = make_session(failed_attempts=2, paid=True)
    assert status_of(session) == "succeeded"


def test_paid_session_after_expiry_is_still_succeeded():
    session = make_session(paid=True)
    assert status_of(session, now=session.expires_at + timedelta(days=3)) == "succeeded"


def test_unpaid_session_with_a_failure_is_failed_while_active():
    session = make_session(failed_attempts=1)
    assert status_of(session) == "failed"


def test_failures_on_an_expired_session_make_it_failed_not_expired():
    session = make_session(failed_attempts=1)
    assert status_of(session, now=session.expires_at + timedelta(minutes=1)) == "failed"


def test_unpaid_session_without_failures_is_open_until_expiry():
    session = make_session()
    assert status_of(session, now=session.expires_at - timedelta(microseconds=1)) == "open"


def test_session_is_expired_exactly_at_expires_at():
    session = make_session()
    assert status_of(session, now=session.expires_at) == "expired"


def test_filters_agree_with_the_annotation_at_the_boundary(org):
    now = timezone.now()
    at_boundary = make_session(org=org, created_at=now - timedelta(minutes=60))
    assert at_boundary.expires_at == now
    sessions = CheckoutSession.objects.for_org(org, "test")
    assert list(sessions.expired(now)) == [at_boundary]
    assert not sessions.open(now).exists()
    assert list(sessions.open(now - timedelta(seconds=1))) == [at_boundary]


def test_each_session_is_in_exactly_one_status(org):
    now = timezone.now()
    make_session(org=org)
    make_session(org=org, failed_attempts=1)
    make_session(org=org, paid=True, failed_attempts=3)
    make_session(org=org, created_at=now - timedelta(hours=2))
    make_session(org=org, created_at=now - timedelta(hours=2), failed_attempts=1)
    sessions = CheckoutSession.objects.for_org(org, "test")

    by_filter = {
        "open": set(sessions.open(now).values_list("pk", flat=True)),
        "succeeded": set(sessions.succeeded(now).values_list("pk", flat=True)),
        "failed": set(sessions.failed(now).values_list("pk", flat=True)),
        "expired": set(sessions.expired(now).values_list("pk", flat=True)),
    }
    by_annotation = dict(sessions.with_status(now).values_list("pk", "status"))
    for status, pks in by_filter.items():
        assert pks == {pk for pk, s in by_annotation.items() if s == status}
    assert sum(len(pks) for pks in by_filter.values()) == len(by_annotation) == 5
    assert {s: len(p) for s, p in by_filter.items()} == {
        "open": 1,
        "succeeded": 1,
        "failed": 2,
        "expired": 1,
    }


def test_status_counts_is_one_query_and_matches_the_filters(org, django_assert_num_queries):
    now = timezone.now()
    make_session(org=org)
    make_session(org=org, failed_attempts=1)
    make_session(org=org, paid=True)
    make_session(org=org, created_at=now - timedelta(hours=3))
    sessions = CheckoutSession.objects.for_org(org, "test")

    with django_assert_num_queries(1):
        counts = sessions.status_counts(now)

    assert counts == {"all": 4, "open": 1, "succeeded": 1, "failed": 1, "expired": 1}


def test_counts_are_scoped_to_org_and_mode(org):
    make_session(org=org)
    make_session(org=org, mode="live")
    make_session()  # another org
    assert CheckoutSession.objects.for_org(org, "test").status_counts()["all"] == 1
    assert CheckoutSession.objects.for_org(org, "live").status_counts()["all"] == 1
