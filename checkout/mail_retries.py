"""Trying an email to a customer again when the mail server failed in a way that may pass, as
callbacks are: which failures may pass (``may_pass``), and the failed attempt's event recorded
with its next attempt queued in the same transaction (``record_failed_send``). Receipts
(``checkout.receipts``) and recovery emails (``checkout.recovery``) both go through it.

A failed attempt's event says its ``attempt`` (from 1), ``error``, ``next_attempt_at`` and
``final``: no next attempt follows, because waiting cannot fix it (a 5xx refusal, a message the
mail library refuses, a bug), the schedule is used up, the next try would come past a deadline
(a recovery link's expiry: ``retries`` says why), or the backend cannot defer (``immediate``,
the tests: ``retries`` says it needs the database backend).
"""

import smtplib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import NamedTuple

from django.db import transaction
from django.utils import timezone

from checkout.actors import Actor
from checkout.erasure import record_email_to_customer
from checkout.models import CheckoutSession, TimelineEvent
from checkout.task_queue import backend_can_defer, enqueue_with_transaction, retry_delay

NEEDS_DATABASE_BACKEND = "need TASKS_BACKEND=database"


class RetryDeadline(NamedTuple):
    """No attempt at or after ``at``; a failure whose next try would come later is final, its
    event's ``retries`` saying ``reason``."""

    at: datetime
    reason: str


def may_pass(error: Exception) -> bool:
    """Whether the same email may go out later: the mail server was unreachable, hung up or
    timed out (OSError and smtplib's other errors), or answered 4xx, SMTP's "try again later".
    Not a 5xx refusal, a message the mail library refuses (ValueError), nor a bug."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _reply in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return 400 <= error.smtp_code < 500
    return isinstance(error, (smtplib.SMTPException, OSError))


def record_failed_send(
    *,
    session: CheckoutSession,
    kind: str,
    actor: Actor,
    to: str,
    error: Exception,
    attempt: int,
    data: Mapping,
    schedule: Sequence[int],
    enqueue_next: Callable[..., object],
    deadline: RetryDeadline | None = None,
) -> TimelineEvent:
    """Record failed ``attempt`` of an email to ``to`` as ``kind`` on ``session`` (``data``
    plus the error and what comes next) and, when it may pass, the ``schedule`` has a next try
    and it comes before the ``deadline``, call ``enqueue_next(run_after=…)`` in the transaction
    that records it: a worker dying right after cannot lose the next attempt."""
    transient = may_pass(error)
    delay = retry_delay(schedule, failed_attempts=attempt) if transient else None
    next_attempt_at = timezone.now() + timedelta(seconds=delay) if delay is not None else None
    retries = {}
    if transient and not backend_can_defer():
        retries = {"retries": NEEDS_DATABASE_BACKEND}
    elif next_attempt_at is not None and deadline is not None and next_attempt_at >= deadline.at:
        next_attempt_at = None
        retries = {"retries": deadline.reason}
    with transaction.atomic():
        event = record_email_to_customer(
            session=session,
            kind=kind,
            actor=actor,
            to=to,
            data={
                **data,
                "error": f"{type(error).__name__}: {error}"[:300],
                "attempt": attempt,
                "next_attempt_at": next_attempt_at.isoformat() if next_attempt_at else None,
                "final": next_attempt_at is None,
                **retries,
            },
        )
        if next_attempt_at is not None:
            enqueue_with_transaction(partial(enqueue_next, run_after=next_attempt_at))
    return event
