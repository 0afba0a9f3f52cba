"""Periodic upkeep that ``db_worker`` runs beside its tasks (no cron): old rows are pruned in
small batches, so no run holds locks or a transaction for long.

- finished task results older than ``TASK_RESULT_RETENTION_DAYS`` (7);
- callback deliveries that ended (delivered or given up) more than
  ``CALLBACK_DELIVERY_RETENTION_DAYS`` ago (30); every attempt stays on the session timeline.
"""

from datetime import timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from checkout.models import CallbackDelivery

BATCH_SIZE = 1000


def delete_in_batches(rows: QuerySet, *, batch_size: int = BATCH_SIZE) -> int:
    """Delete ``rows`` a batch of primary keys at a time; returns how many went."""
    deleted = 0
    while batch := list(rows.values_list("pk", flat=True)[:batch_size]):
        deleted += rows.model.objects.filter(pk__in=batch).delete()[0]
    return deleted


def prune_task_results() -> int:
    cutoff = timezone.now() - timedelta(days=settings.TASK_RESULT_RETENTION_DAYS)
    return delete_in_batches(
        DBTaskResult.objects.filter(
            status__in=[TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED],
            finished_at__lt=cutoff,
        )
    )


def prune_finished_deliveries() -> int:
    cutoff = timezone.now() - timedelta(days=settings.CALLBACK_DELIVERY_RETENTION_DAYS)
    return delete_in_batches(
        CallbackDelivery.objects.exclude(status=CallbackDelivery.Status.PENDING).filter(
            created_at__lt=cutoff
        )
    )
