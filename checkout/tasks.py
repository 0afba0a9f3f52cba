"""Background work (django.tasks): callback delivery with retries, and session expiry.

Backends (``TASKS_BACKEND``, see README "Background tasks"):

- ``database`` (production): django-tasks-db; ``manage.py db_worker`` runs the tasks. Retries
  wait ``CALLBACK_RETRY_SCHEDULE[n]`` seconds (``run_after``), and each session's expiry task
  runs at its ``expires_at``. At least once: a task whose worker died runs again
  (``checkout.task_recovery``), so each task first checks whether its work was done.
- ``immediate`` (embedded default): a task runs as soon as it is enqueued, after the commit of
  the request that caused it. It cannot defer, so a callback gets its first attempt only (no
  retries) and no expiry callbacks are sent; both are stated on the timeline / in the README.
"""

import logging
import time
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.tasks import task, task_backends
from django.utils import timezone

from checkout.actors import Actor
from checkout.callbacks import (
    MAX_ERROR_LENGTH,
    CallbackEvent,
    DeliveryOutcome,
    enqueue_session_callback,
    post_callback,
)
from checkout.choices import EventKind
from checkout.models import CallbackDelivery, CheckoutSession
from checkout.services import lock_for_update
from checkout.task_queue import enqueue_with_transaction
from checkout.timeline import record_event
from orgs.services import callback_signing_secrets

logger = logging.getLogger(__name__)


def backend_can_defer() -> bool:
    """Whether the configured task backend can run a task later (``run_after``)."""
    return task_backends["default"].supports_defer


def enqueue_delivery(delivery_pk: int, *, run_after: datetime | None = None) -> None:
    """Start (or retry, at ``run_after``) the delivery of one callback."""
    if run_after is not None and backend_can_defer():
        deliver_callback.using(run_after=run_after).enqueue(delivery_pk)
    else:
        deliver_callback.enqueue(delivery_pk)


def schedule_session_expiry(session_pk: int) -> None:
    """Run ``expire_session`` at the session's ``expires_at`` (needs a deferring backend)."""
    if not backend_can_defer():
        return
    expires_at = (
        CheckoutSession.objects.filter(pk=session_pk).values_list("expires_at", flat=True).first()
    )
    if expires_at is not None:
        expire_session.using(run_after=expires_at).enqueue(session_pk)


def _retry_delay(attempts: int) -> int | None:
    """Seconds before the next try after ``attempts`` failed ones, or None to give up."""
    schedule = settings.CALLBACK_RETRY_SCHEDULE
    if attempts > len(schedule) or not backend_can_defer():
        return None
    return schedule[attempts - 1]


@task
def deliver_callback(delivery_pk: int) -> str:
    """Make one delivery attempt, record it on the session's timeline, schedule a retry."""
    delivery = (
        CallbackDelivery.objects.select_related("session__org").filter(pk=delivery_pk).first()
    )
    if delivery is None or delivery.status != CallbackDelivery.Status.PENDING:
        return "skipped"
    if delivery.next_attempt_at is not None and delivery.next_attempt_at > timezone.now():
        # This task's attempt was made and recorded, and the next one is scheduled: the task is
        # run again because its worker died before marking it finished (checkout.task_recovery).
        return "not due"
    # No transaction is open during the request: a slow merchant must not hold database locks.
    started = time.monotonic()
    try:
        # The session's mode picks the secret: a test payment must not be verifiable as live.
        secrets = callback_signing_secrets(org=delivery.session.org, mode=delivery.session.mode)
        outcome = post_callback(delivery, secrets=secrets)
    except Exception as error:  # noqa: BLE001 - recorded below as a failed attempt, and logged
        # post_callback returns the failures it expects; anything else (a bug, a library
        # raising something new) must still count as a failed attempt with a retry, or the
        # delivery would stay pending forever with nothing on the timeline.
        logger.exception("Callback delivery %s failed unexpectedly", delivery.public_id)
        outcome = DeliveryOutcome(
            status_code=None,
            duration_ms=round((time.monotonic() - started) * 1000),
            error=f"Unexpected error: {type(error).__name__}: {error}"[:MAX_ERROR_LENGTH],
        )
    attempt = delivery.attempts + 1
    now = timezone.now()
    delay = None if outcome.delivered else _retry_delay(attempt)
    if outcome.delivered:
        status = CallbackDelivery.Status.DELIVERED
    elif delay is None:
        status = CallbackDelivery.Status.FAILED
    else:
        status = CallbackDelivery.Status.PENDING
    next_attempt_at = now + timedelta(seconds=delay) if delay is not None else None

    with transaction.atomic():
        # Only if no other run recorded this attempt meanwhile (a task run again while its first
        # worker, not dead but slow, was still at it): one attempt, one timeline event.
        recorded = CallbackDelivery.objects.filter(
            pk=delivery.pk, status=CallbackDelivery.Status.PENDING, attempts=delivery.attempts
        ).update(
            attempts=attempt,
            status=status,
            last_status_code=outcome.status_code,
            last_error=outcome.error,
            next_attempt_at=next_attempt_at,
            delivered_at=now if outcome.delivered else None,
        )
        if not recorded:
            return "superseded"
        record_event(
            session=delivery.session,
            kind=EventKind.CALLBACK_DELIVERED if outcome.delivered else EventKind.CALLBACK_FAILED,
            actor=Actor.system(),
            data={
                "delivery": delivery.public_id,
                "event_type": delivery.event_type,
                "url": delivery.url,
                "attempt": attempt,
                "status_code": outcome.status_code,
                "duration_ms": outcome.duration_ms,
                "error": outcome.error,
                "next_attempt_at": next_attempt_at.isoformat() if next_attempt_at else None,
                **(
                    {"retries": "need TASKS_BACKEND=database"}
                    if not outcome.delivered and not backend_can_defer()
                    else {}
                ),
            },
        )
        if next_attempt_at is not None:
            # Committed with the attempt: a worker dying right after cannot lose the retry.
            enqueue_with_transaction(
                partial(enqueue_delivery, delivery.pk, run_after=next_attempt_at)
            )
    return status


@task
def expire_session(session_pk: int) -> str:
    """At ``expires_at``: record ``session_expired`` and call back, unless paid or extended
    (or already recorded: the task may run again after its worker died)."""
    now = timezone.now()
    with transaction.atomic():
        session = CheckoutSession.objects.filter(pk=session_pk).only("order_id").first()
        if session is None:
            return "gone"
        # Locked as paying and extending lock, so a payment racing the deadline either commits
        # first (then no expiry) or waits and finds the session expired.
        session = lock_for_update(session)
        if session.order.is_paid:
            return "paid"
        if session.expires_at > now:
            # Extended since this task was scheduled: look again at the new deadline.
            enqueue_with_transaction(partial(schedule_session_expiry, session_pk))
            return "rescheduled"
        if session.events.filter(kind=EventKind.SESSION_EXPIRED).exists():
            return "already expired"
        record_event(
            session=session,
            kind=EventKind.SESSION_EXPIRED,
            actor=Actor.system(),
            data={"expires_at": session.expires_at.isoformat()},
        )
        enqueue_session_callback(session=session, event_type=CallbackEvent.EXPIRED)
    return "expired"
