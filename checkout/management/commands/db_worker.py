"""django-tasks-db's ``db_worker``, which also runs the checkout's periodic upkeep.

It replaces the library's command of the same name (``checkout`` comes first in
INSTALLED_APPS, as staticfiles' ``runserver`` replaces Django's), so the command production
runs is at least once; every option of the library's command works as before. Beside the task
loop, a thread runs each periodic job when it is due (with ``--batch``: each once, first):

- ``recover lost work`` (``checkout.task_recovery``) every ``recovery_interval()`` seconds:
  tasks whose worker died are run again;
- ``advance the session count rollup`` (``checkout.rollup``) every ``ROLLUP_INTERVAL_SECONDS``;
- purging expired ``Idempotency-Key`` records (``checkout.api.idempotency``) and pruning old
  task results, ended callback deliveries and the abuse limits' day-old counts, and dropping
  sessions' IP addresses and user agents past their retention (``checkout.upkeep``) every
  ``UPKEEP_INTERVAL_SECONDS``.

Several workers may run the same jobs: each job is safe to run concurrently.
"""

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.db import DatabaseError, connections
from django.utils.autoreload import DJANGO_AUTORELOAD_ENV
from django_tasks_db.management.commands import db_worker

from checkout.api.idempotency import purge_expired_keys
from checkout.rollup import advance_rollup
from checkout.task_recovery import recover_lost_work, recovery_interval
from checkout.upkeep import (
    drop_old_customer_context,
    prune_finished_deliveries,
    prune_limit_records,
    prune_task_results,
)

logger = logging.getLogger("checkout.worker")


@dataclass
class PeriodicJob:
    name: str
    every_seconds: float
    run: Callable[[], object]
    due_at: float = 0.0


def periodic_jobs(backend_name: str) -> list[PeriodicJob]:
    return [
        PeriodicJob(
            "recover lost work",
            recovery_interval(),
            partial(recover_lost_work, backend_name=backend_name),
        ),
        PeriodicJob(
            "advance the session count rollup", settings.ROLLUP_INTERVAL_SECONDS, advance_rollup
        ),
        PeriodicJob(
            "purge expired idempotency keys", settings.UPKEEP_INTERVAL_SECONDS, purge_expired_keys
        ),
        PeriodicJob("prune old task results", settings.UPKEEP_INTERVAL_SECONDS, prune_task_results),
        PeriodicJob(
            "prune ended callback deliveries",
            settings.UPKEEP_INTERVAL_SECONDS,
            prune_finished_deliveries,
        ),
        PeriodicJob(
            "prune the abuse limits' counts", settings.UPKEEP_INTERVAL_SECONDS, prune_limit_records
        ),
        PeriodicJob(
            "drop old IP addresses and user agents",
            settings.UPKEEP_INTERVAL_SECONDS,
            drop_old_customer_context,
        ),
    ]


class Command(db_worker.Command):
    help = (
        "Run a database background worker; tasks whose worker died (running longer than "
        "TASK_STALE_AFTER_SECONDS) are run again, and the session count rollup is kept current."
    )

    def handle(self, *, backend_name: str, batch: bool, reload: bool, **options) -> None:
        # With --reload this process only watches files: its child process runs the tasks.
        runs_tasks = batch or not reload or os.environ.get(DJANGO_AUTORELOAD_ENV) == "true"
        if runs_tasks:
            jobs = periodic_jobs(backend_name)
            run_due(jobs)
            if not batch:
                threading.Thread(
                    target=run_periodically, args=(jobs,), name="checkout-upkeep", daemon=True
                ).start()
        super().handle(backend_name=backend_name, batch=batch, reload=reload, **options)


def run_due(jobs: list[PeriodicJob]) -> None:
    """Run every job that is due; a failing job is logged and tried again next time."""
    for job in jobs:
        if time.monotonic() < job.due_at:
            continue
        job.due_at = time.monotonic() + job.every_seconds
        try:
            job.run()
        except DatabaseError:
            # The database restarting, say: the next round tries again; tasks keep running.
            logger.exception("Could not %s; trying again in %g s.", job.name, job.every_seconds)


def run_periodically(jobs: list[PeriodicJob]) -> None:
    """The upkeep thread: dies with the worker process (a daemon thread)."""
    while True:
        time.sleep(max(0.5, min(job.due_at for job in jobs) - time.monotonic()))
        run_due(jobs)
        # This thread's own connection; the worker's task loop keeps its own.
        connections.close_all()
