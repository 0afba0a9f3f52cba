"""Tasks commit with the change that caused them: with the database backend a rolled-back
change leaves no task behind, and a broken queue never fails the change itself."""

import pytest
from django.db import transaction
from django_tasks_db.models import DBTaskResult

from checkout.models import CheckoutSession
from checkout.task_queue import enqueue_with_transaction
from tests.factories import make_session

DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


class RolledBack(Exception):
    pass


@pytest.mark.django_db(transaction=True)
def test_database_backend_enqueues_inside_the_transaction(org, settings):
    settings.TASKS = DATABASE_TASKS

    with transaction.atomic():
        make_session(org=org)
        # Already enqueued before the commit: a crash after the commit cannot lose it.
        assert DBTaskResult.objects.filter(task_path="checkout.expiry.expire_session").exists()


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_change_leaves_no_task(org, settings):
    settings.TASKS = DATABASE_TASKS

    with pytest.raises(RolledBack), transaction.atomic():
        make_session(org=org)
        raise RolledBack

    assert not CheckoutSession.objects.exists()
    assert not DBTaskResult.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("backend", ["database", "immediate"])
def test_a_broken_queue_never_fails_the_change(org, settings, backend):
    if backend == "database":
        settings.TASKS = DATABASE_TASKS

    def broken_queue():
        raise ConnectionError("queue is down")

    with transaction.atomic():
        session = make_session(org=org)
        enqueue_with_transaction(broken_queue)

    assert CheckoutSession.objects.filter(pk=session.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_immediate_backend_waits_for_the_commit():
    ran = []

    with transaction.atomic():
        enqueue_with_transaction(lambda: ran.append("task"))
        assert ran == []

    assert ran == ["task"]
