"""django-tasks-db's ``db_worker``, which also runs again the tasks whose worker died.

It replaces the library's command of the same name (``checkout`` comes first in
INSTALLED_APPS, as staticfiles' ``runserver`` replaces Django's), so the command production
runs is at least once; every option of the library's command works as before. The worker
recovers lost work (``checkout.task_recovery``) before its first task, then every
``recovery_interval()`` seconds in a thread beside the task loop (with ``--batch``: once).
"""

import logging
import os
import threading
import time

from django.db import DatabaseError, connections
from django.utils.autoreload import DJANGO_AUTORELOAD_ENV
from django_tasks_db.management.commands import db_worker

from checkout.task_recovery import recover_lost_work, recovery_interval

logger = logging.getLogger("checkout.task_recovery")


class Command(db_worker.Command):
    help = (
        "Run a database background worker; tasks whose worker died (running longer than "
        "TASK_STALE_AFTER_SECONDS) are run again."
    )

    def handle(self, *, backend_name: str, batch: bool, reload: bool, **options) -> None:
        # With --reload this process only watches files: its child process runs the tasks.
        runs_tasks = batch or not reload or os.environ.get(DJANGO_AUTORELOAD_ENV) == "true"
        if runs_tasks:
            recover(backend_name)
            if not batch:
                threading.Thread(
                    target=recover_periodically,
                    args=(backend_name,),
                    name="task-recovery",
                    daemon=True,
                ).start()
        super().handle(backend_name=backend_name, batch=batch, reload=reload, **options)


def recover(backend_name: str) -> None:
    try:
        recover_lost_work(backend_name=backend_name)
    except DatabaseError:
        # The database restarting, say: the next round tries again; tasks keep running.
        logger.exception("Could not recover lost tasks; trying again in %g s.", recovery_interval())


def recover_periodically(backend_name: str) -> None:
    """The recovery thread: dies with the worker process (a daemon thread)."""
    while True:
        time.sleep(recovery_interval())
        recover(backend_name)
        # This thread's own connection; the worker's task loop keeps its own.
        connections.close_all()
