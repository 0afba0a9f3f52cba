"""Enqueueing a task so that it commits with the change that caused it."""

import logging
from collections.abc import Callable, Sequence

from django.db import transaction
from django.tasks import task_backends
from django_tasks_db import DatabaseBackend

logger = logging.getLogger(__name__)


def backend_can_defer() -> bool:
    """Whether the configured task backend can run a task later (``run_after``)."""
    return task_backends["default"].supports_defer


def retry_delay(schedule: Sequence[int], *, failed_attempts: int) -> int | None:
    """Seconds to wait before the next try after ``failed_attempts`` failed ones, following
    ``schedule`` (a ``*_RETRY_SCHEDULE`` setting), or None to give up: the schedule is used up,
    or the backend cannot run a task later (the immediate backend: one attempt only)."""
    if failed_attempts > len(schedule) or not backend_can_defer():
        return None
    return schedule[failed_attempts - 1]


def enqueue_with_transaction(enqueue: Callable[[], object]) -> None:
    """Call ``enqueue`` (which enqueues one task) as part of the caller's transaction.

    The database backend stores tasks in our database, so the task is enqueued right away: it
    commits or rolls back with the change, and a crash just after the commit cannot lose it.
    Any other backend (immediate runs the task at once) waits for the commit, or the task could
    read rows that are not committed yet, or never will be. Either way a broken queue never
    fails the customer's request: the error is logged and the change still commits.
    """
    in_transaction = transaction.get_connection().in_atomic_block
    if in_transaction and isinstance(task_backends["default"], DatabaseBackend):
        try:
            with transaction.atomic():
                enqueue()
        except Exception:
            logger.exception("Could not enqueue a task; the change commits without it.")
        return
    transaction.on_commit(enqueue, robust=True)
