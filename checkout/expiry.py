"""Session expiry: at each session's ``expires_at`` a task records ``session_expired`` (which
asks for the ``checkout.session.expired`` callback), unless the session was paid or extended.

It needs a backend that can defer (``run_after``): the database backend. The task may run
again after its worker died (``checkout.task_recovery``), so it checks what was done first.
"""

from functools import partial

from django.db import transaction
from django.tasks import task
from django.utils import timezone

from checkout.actors import Actor
from checkout.choices import EventKind
from checkout.locking import lock_for_update
from checkout.models import CheckoutSession
from checkout.task_queue import backend_can_defer, enqueue_with_transaction
from checkout.timeline import record_event


def schedule_session_expiry(session_pk: int) -> None:
    """Run ``expire_session`` at the session's ``expires_at`` (needs a deferring backend)."""
    if not backend_can_defer():
        return
    expires_at = (
        CheckoutSession.objects.filter(pk=session_pk).values_list("expires_at", flat=True).first()
    )
    if expires_at is not None:
        expire_session.using(run_after=expires_at).enqueue(session_pk)


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
        if session.is_active_at(now):
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
    return "expired"
