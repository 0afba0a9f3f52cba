"""Row locks on a session: every writer of a session (paying, extending, expiring, saving
details) takes them the same way, in the same order, so they serialize without deadlocks."""

from datetime import timedelta

from django.db import DatabaseError, connection

from checkout.models import CheckoutSession, Order


class SessionLocked(Exception):
    """Another transaction held the session's lock longer than the caller would wait: in
    practice a payment whose processor call is under way."""


# PostgreSQL's SQLSTATE for a lock refused by NOWAIT or by lock_timeout (lock_not_available).
LOCK_NOT_AVAILABLE = "55P03"


def _is_lock_not_available(error: DatabaseError) -> bool:
    return getattr(error.__cause__, "sqlstate", None) == LOCK_NOT_AVAILABLE


def _set_lock_timeout(value: str) -> str:
    """Set this transaction's lock_timeout (PostgreSQL); returns the value it replaced."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('lock_timeout')")
        (previous,) = cursor.fetchone()
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [value])
    return previous


def lock_for_update(
    session: CheckoutSession, *, max_wait: timedelta | None = None
) -> CheckoutSession:
    """Row-lock the session's order, then the session (call inside a transaction).

    Every writer of a session (paying, extending, expiring, saving details) locks in this
    order, so they serialize without deadlocks. Returns the fresh session with its locked
    ``order``. ``max_wait`` bounds the wait for the order's lock, which a payment holds for
    its whole processor call: ``timedelta(0)`` refuses at once (NOWAIT), a positive value
    waits that long; either raises SessionLocked when the lock is taken. None waits as long
    as it takes. On SQLite, which has no row locks and serializes writers, it never raises.
    """
    bounded = max_wait is not None and connection.vendor == "postgresql"
    nowait = bounded and max_wait <= timedelta(0)
    try:
        if bounded and not nowait:
            milliseconds = max(1, round(max_wait.total_seconds() * 1000))
            previous = _set_lock_timeout(f"{milliseconds}ms")
            order = Order.objects.select_for_update().get(pk=session.order_id)
            _set_lock_timeout(previous)
        else:
            order = Order.objects.select_for_update(nowait=nowait).get(pk=session.order_id)
    except DatabaseError as error:
        if _is_lock_not_available(error):
            raise SessionLocked(
                f"Session {session.public_id} is locked by another request."
            ) from error
        raise
    # Whoever holds the session's row holds its order's first (or is a short insert that
    # references the session), so this wait is brief.
    locked = CheckoutSession.objects.select_for_update().get(pk=session.pk)
    locked.order = order
    return locked
