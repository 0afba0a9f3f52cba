"""The abuse limits' counts hold client IP addresses: the worker's upkeep drops them after a
day (the limits look back an hour at most), and keeps what a limit still counts."""

from datetime import timedelta

import pytest
from django.utils import timezone

from checkout.management.commands.db_worker import periodic_jobs
from checkout.models import ApiRequestWindow, PaymentAttempt, PaymentLinkOpen
from checkout.upkeep import prune_limit_records
from orgs.services import create_api_key
from tests.factories import PaymentLinkFactory, make_session

pytestmark = pytest.mark.django_db


def test_day_old_attempts_openings_and_request_windows_are_pruned_recent_ones_kept():
    session = make_session()
    link = PaymentLinkFactory(org=session.org)
    api_key, _ = create_api_key(org=session.org, mode="test")
    now = timezone.now()
    day_ago = now - timedelta(days=1, minutes=1)
    for created_at in (day_ago, now - timedelta(minutes=59)):
        PaymentAttempt.objects.create(
            org=session.org,
            mode="test",
            session=session,
            ip_key="203.0.113.7",
            outcome="declined",
            created_at=created_at,
        )
        PaymentLinkOpen.objects.create(link=link, ip_key="203.0.113.7", created_at=created_at)
        ApiRequestWindow.objects.create(
            api_key=api_key, window_start=int(created_at.timestamp()), count=3
        )

    assert prune_limit_records() == 3

    assert PaymentAttempt.objects.get().created_at > day_ago
    assert PaymentLinkOpen.objects.get().created_at > day_ago
    assert ApiRequestWindow.objects.get().window_start > day_ago.timestamp()


def test_the_worker_prunes_them_with_its_upkeep():
    jobs = {job.name: job.run for job in periodic_jobs("default")}

    assert jobs["prune the abuse limits' counts"] is prune_limit_records
