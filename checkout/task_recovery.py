"""At-least-once tasks on the database backend: work whose worker died is run again.

django-tasks-db marks a task ``RUNNING`` when a worker claims it and finishes it when the task
returns; a worker killed in between (``kill -9``, out of memory, machine gone) leaves it
``RUNNING`` forever, and no worker claims it again. ``db_worker`` (checkout's, which runs the
library's worker) calls ``recover_lost_work`` when it starts and every few seconds, so:

- a task ``RUNNING`` for longer than ``TASK_STALE_AFTER_SECONDS`` goes back to ``READY`` (its
  ``worker_ids`` keep the history) and any worker runs it again;
- a pending callback delivery overdue by as long, with no task queued or running for it (its
  enqueue failed), gets a new one.

Running a task again is safe because each task checks whether its work was done: a delivery
that is not pending or not yet due is skipped, a receipt whose send is on the timeline is not
sent again, an expiry already recorded is not recorded again (see each task).
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction

from checkout.callbacks import deliver_callback, enqueue_delivery
from checkout.models import CallbackDelivery

logger = logging.getLogger(__name__)

# Overdue deliveries looked at per sweep; the next sweep takes the rest.
DELIVERY_SWEEP_LIMIT = 500


def stale_after() -> timedelta:
    """How long a task may run before its worker is taken to be gone."""
    return timedelta(seconds=settings.TASK_STALE_AFTER_SECONDS)


def recovery_interval() -> float:
    """Seconds between two recoveries in a running worker: often enough that a lost task runs
    again soon after it turns stale, rarely enough to cost nothing."""
    return min(30.0, max(1.0, settings.TASK_STALE_AFTER_SECONDS / 8))


def requeue_stale_tasks(*, backend_name: str = "default") -> int:
    """Put tasks ``RUNNING`` for longer than ``TASK_STALE_AFTER_SECONDS`` back to ``READY``."""
    cutoff = timezone.now() - stale_after()
    stale = DBTaskResult.objects.running().filter(backend_name=backend_name, started_at__lt=cutoff)
    with exclusive_transaction(stale.db):
        lost = list(
            stale.select_for_update(skip_locked=True).only(
                "id", "task_path", "started_at", "worker_ids"
            )
        )
        # The status and age are checked again by the UPDATE itself: a worker that claimed the
        # task again meanwhile set a new started_at, and it must not be run twice at once.
        requeued = stale.filter(pk__in=[task.pk for task in lost]).update(
            status=TaskResultStatus.READY, started_at=None
        )
    for task in lost:
        logger.warning(
            "Task %s (%s) started at %s by worker %s never finished: its worker is gone. "
            "Queued to run again.",
            task.pk,
            task.task_path,
            task.started_at.isoformat(),
            task.worker_ids[-1] if task.worker_ids else "?",
        )
    return requeued


def requeue_lost_deliveries() -> int:
    """Queue a delivery task for each pending delivery that is overdue and has none."""
    cutoff = timezone.now() - stale_after()
    with exclusive_transaction(CallbackDelivery.objects.db):
        # Locked (skipping rows another worker is sweeping), so two sweeps never both queue one
        # delivery: the second finds the first one's task, committed, when it gets the row.
        overdue = list(
            CallbackDelivery.objects.filter(
                status=CallbackDelivery.Status.PENDING, next_attempt_at__lt=cutoff
            )
            .order_by("next_attempt_at")
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)[:DELIVERY_SWEEP_LIMIT]
        )
        if not overdue:
            return 0
        queued = set(
            DBTaskResult.objects.filter(
                task_path=deliver_callback.module_path,
                status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING],
                args_kwargs__args__0__in=overdue,
            ).values_list("args_kwargs__args__0", flat=True)
        )
        lost = [pk for pk in overdue if pk not in queued]
        for delivery_pk in lost:
            enqueue_delivery(delivery_pk)
    if lost:
        logger.warning("Queued %d overdue callback deliveries that had no task.", len(lost))
    return len(lost)


@dataclass(frozen=True)
class Recovery:
    tasks: int
    deliveries: int


def recover_lost_work(*, backend_name: str = "default") -> Recovery:
    """Run again the tasks whose worker died, and queue deliveries that lost their task."""
    return Recovery(
        tasks=requeue_stale_tasks(backend_name=backend_name),
        deliveries=requeue_lost_deliveries(),
    )
