"""The worker's periodic upkeep prunes what is past its retention, and nothing else."""

from datetime import timedelta

import pytest
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from checkout.models import CallbackDelivery
from checkout.upkeep import prune_finished_deliveries, prune_task_results
from tests.factories import make_session

pytestmark = pytest.mark.django_db


def task_result(status, finished_days_ago):
    finished = timezone.now() - timedelta(days=finished_days_ago)
    return DBTaskResult.objects.create(
        status=status,
        task_path="checkout.expiry.expire_session",
        args_kwargs={"args": [1], "kwargs": {}},
        queue_name="default",
        backend_name="default",
        priority=0,
        run_after=finished,
        finished_at=None if status == TaskResultStatus.READY else finished,
    )


def test_old_finished_task_results_are_pruned_and_queued_or_recent_ones_kept(settings):
    settings.TASK_RESULT_RETENTION_DAYS = 7
    old_done = task_result(TaskResultStatus.SUCCESSFUL, 8)
    old_failed = task_result(TaskResultStatus.FAILED, 30)
    recent = task_result(TaskResultStatus.SUCCESSFUL, 1)
    queued = task_result(TaskResultStatus.READY, 30)

    assert prune_task_results() == 2

    left = set(DBTaskResult.objects.values_list("pk", flat=True))
    assert left == {recent.pk, queued.pk}
    assert old_done.pk not in left and old_failed.pk not in left


def test_ended_deliveries_past_retention_are_pruned_and_pending_ones_never(org, settings):
    settings.CALLBACK_DELIVERY_RETENTION_DAYS = 30
    session = make_session(org=org)
    long_ago = timezone.now() - timedelta(days=31)

    def delivery(status, created_at):
        return CallbackDelivery.objects.create(
            public_id=f"msg_{status}_{created_at:%s}",
            session=session,
            event_type="checkout.session.completed",
            url="https://merchant.example.com/hooks",
            payload="{}",
            status=status,
            created_at=created_at,
        )

    delivery(CallbackDelivery.Status.DELIVERED, long_ago)
    delivery(CallbackDelivery.Status.FAILED, long_ago)
    pending = delivery(CallbackDelivery.Status.PENDING, long_ago)
    recent = delivery(CallbackDelivery.Status.DELIVERED, timezone.now())

    assert prune_finished_deliveries() == 2

    assert set(CallbackDelivery.objects.values_list("pk", flat=True)) == {pending.pk, recent.pk}
