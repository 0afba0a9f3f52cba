"""Periodic upkeep that ``db_worker`` runs beside its tasks (no cron): old rows are pruned in
small batches, so no run holds locks or a transaction for long.

- finished task results older than ``TASK_RESULT_RETENTION_DAYS`` (7);
- callback deliveries that ended (delivered or given up) more than
  ``CALLBACK_DELIVERY_RETENTION_DAYS`` ago (30); every attempt stays on the session timeline;
- what the abuse limits counted (payment attempts and payment-link openings by client IP, API
  request windows) once no limit looks at it: after ``LIMIT_RECORD_RETENTION`` (a day);
- sessions' IP addresses and user agents after ``CUSTOMER_CONTEXT_RETENTION_DAYS`` (90; the
  abuse limits' client addresses above are gone long before: a day, and the setting counts
  whole days).
"""

from datetime import timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from checkout.models import (
    ApiRequestWindow,
    CallbackDelivery,
    CheckoutSession,
    PaymentAttempt,
    PaymentLinkOpen,
)
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


def drop_old_customer_context(*, batch_size: int = BATCH_SIZE) -> int:
    """Null the IP address and empty the user agent of sessions created more than
    ``CUSTOMER_CONTEXT_RETENTION_DAYS`` ago (0: keep them), a batch at a time, each batch its
    own short statement; returns how many sessions changed. Found through the partial index
    ``session_context_created``: sessions already dropped are not in it."""
    days = settings.CUSTOMER_CONTEXT_RETENTION_DAYS
    if days <= 0:
        return 0
    cutoff = timezone.now() - timedelta(days=days)
    old = CheckoutSession.objects.filter(
        Q(ip_address__isnull=False) | ~Q(user_agent=""), created_at__lt=cutoff
    ).order_by("created_at")
    dropped = 0
    while batch := list(old.values_list("pk", flat=True)[:batch_size]):
        dropped += CheckoutSession.objects.filter(pk__in=batch).update(
            ip_address=None, user_agent=""
        )
    return dropped
