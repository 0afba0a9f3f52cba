"""Shared fixtures. Postgres-only tests carry @pytest.mark.postgres and are skipped, with the
reason shown, when the suite runs on SQLite."""

import pytest
from django.conf import settings

from orgs.models import Membership
from tests.factories import MembershipFactory, OrganizationFactory
from tests.processes import WorkerProcesses

ON_POSTGRES = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


def pytest_collection_modifyitems(config, items):
    skip_postgres = pytest.mark.skip(
        reason="needs PostgreSQL (row locks / real concurrency / processes sharing the test "
        "database); set DATABASE_URL=postgres://…"
    )
    skip_embedded = pytest.mark.skip(
        reason="runs `make run` on SQLite whatever DATABASE_URL says: once, in the SQLite pass"
    )
    for item in items:
        if "postgres" in item.keywords and not ON_POSTGRES:
            item.add_marker(skip_postgres)
        if "embedded" in item.keywords and ON_POSTGRES:
            item.add_marker(skip_embedded)


@pytest.fixture
def org(db):
    return OrganizationFactory(slug="acme-test", name="Acme Test Co.")


@pytest.fixture
def member(org):
    """A user of ``org`` with the member role: sees everything, manages nothing."""
    return MembershipFactory(org=org, role=Membership.Role.MEMBER).user


@pytest.fixture
def owner(org):
    """A user of ``org`` with the owner role: manages keys, secrets, settings and the team."""
    return MembershipFactory(org=org, role=Membership.Role.OWNER).user


@pytest.fixture
def start_worker(tmp_path):
    """Starts real ``db_worker`` processes on the test database (tests.processes: PostgreSQL
    only); each is killed at the end of the test."""
    with WorkerProcesses(tmp_path) as workers:
        yield workers.start


@pytest.fixture
def database_tasks(settings):
    """Tasks go to the database backend, as in production (``run_after`` defers them); run
    what is due with ``tests.processes.run_due_tasks``."""
    settings.TASKS = DATABASE_TASKS


@pytest.fixture
def smtp_on(settings):
    """Point the mailer at 127.0.0.1:``port`` (over SMTP, as production does): a
    ``tests.smtp_sink.SmtpSink``, or a ``free_port()`` where nothing listens."""

    def point_at(port: int) -> None:
        settings.MAILERS = {
            "default": {
                "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 5},
            }
        }

    return point_at
