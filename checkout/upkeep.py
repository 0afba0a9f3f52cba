"""Periodic upkeep that ``db_worker`` runs beside its tasks (no cron): old rows are pruned in
small batches, so no run holds locks or a transaction for long.

- finished task results older than ``TASK_RESULT_RETENTION_DAYS`` (7);
- callback deliveries that ended (delivered or given up) more than
  ``CALLBACK_DELIVERY_RETENTION_DAYS`` ago (30); every attempt stays on the session timeline;
- what the abuse limits counted (payment attempts and payment-link openings by client IP, API
  request windows) once no limit looks at it: after ``LIMIT_RECORD_RETENTION`` (a day).
"""

from datetime import timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from checkout.models import ApiRequestWindow, CallbackDelivery, PaymentAttempt, PaymentLinkOpen
from orgs.models import PasswordResetRequest

BATCH_SIZE = 1000
# The limits look back an hour at most; a day leaves room to look into an attack. These rows
# hold client IP addresses, so they go soon.
LIMIT_RECORD_RETENTION = timedelta(days=1)


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


def prune_limit_records() -> int:
    cutoff = timezone.now() - LIMIT_RECORD_RETENTION
    return (
        delete_in_batches(PaymentAttempt.objects.filter(created_at__lt=cutoff))
        + delete_in_batches(PaymentLinkOpen.objects.filter(created_at__lt=cutoff))
        + delete_in_batches(ApiRequestWindow.objects.filter(window_start__lt=cutoff.timestamp()))
        + delete_in_batches(PasswordResetRequest.objects.filter(created_at__lt=cutoff))
    )
