"""Real processes for tests about them: ``db_worker`` workers and production-like gunicorn
servers (bench.load.Server) on the test database, which must then be PostgreSQL (an SQLite test
database lives in the test process's memory)."""

import functools
import os
import subprocess
import sys
import time
from pathlib import Path

from django.core.management import call_command
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def test_database_url() -> str:
    """The test database, for a process started by the test."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


test_database_url.__test__ = False  # a helper, not a test


def wait_for(condition, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"Waited {timeout:g} s for {what}.")
        time.sleep(0.05)


def started(worker: subprocess.Popen) -> bool:
    """Whether the worker is past its startup (and its first recovery), at its task loop."""
    return "Starting worker" in worker.log_path.read_text()


def run_due_tasks() -> None:
    """Run every task due in the test database, in this process, then return (``db_worker
    --batch``): tasks a task queues for now (a zero-second retry) run too."""
    call_command(
        "db_worker", batch=True, reload=False, startup_delay=False, interval=0, verbosity=0
    )


class WorkerProcesses:
    """Starts ``manage.py db_worker`` processes on the test database; kills them at the end."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.workers: list[subprocess.Popen] = []

    def start(self, *options: str, **env: str) -> subprocess.Popen:
        log_path = self.log_dir / f"worker-{len(self.workers)}.log"
        log = open(log_path, "w")  # noqa: SIM115 - the worker writes to it
        worker = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "db_worker",
                "--no-reload",
                "--no-startup-delay",
                "--interval=0.1",
                "--skip-checks",  # a 2 s threshold is short on purpose: no warning about it
                *options,
            ],
            cwd=ROOT,
            env={
                **os.environ,
                "DATABASE_URL": test_database_url(),
                "TASKS_BACKEND": "database",
                "CALLBACK_ALLOW_PRIVATE": "true",
                **env,
            },
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        worker.log_path = log_path
        self.workers.append(worker)
        return worker

    def __enter__(self) -> "WorkerProcesses":
        return self

    def __exit__(self, *exc_info) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.kill()
            worker.wait(timeout=10)


@functools.cache
def collect_static() -> None:
    """``collectstatic`` once per run, as a deploy does: ``DEBUG=false`` (bench.settings) serves
    the hashed names of its manifest, and a page without them is a 500 of its own."""
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "--verbosity=0"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings"},
        check=True,
        timeout=120,
    )


def production_server_env(**env: str) -> dict[str, str]:
    """The environment of a production-like server (bench.settings, DEBUG off) on the test
    database, tasks queued for a worker, plus ``env``."""
    collect_static()
    return {
        "DATABASE_URL": test_database_url(),
        "TASKS_BACKEND": "database",
        "CALLBACK_ALLOW_PRIVATE": "true",
        **env,
    }
