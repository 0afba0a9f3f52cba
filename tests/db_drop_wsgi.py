"""``config.wsgi`` for the fault drill "the database connection drops mid-request": a request
that records a timeline event of the armed kind loses its PostgreSQL connection right after
that write, still inside its transaction, as when the database restarts or the network drops.

The drill arms it by writing the event kind (e.g. ``payment_succeeded``) into the file named by
``DRILL_ARM_FILE``; one request takes the arming (it deletes the file), so the next request on
the same server runs normally. The connection is ended by PostgreSQL itself:
``pg_terminate_backend`` on the request's backend, from a second connection.
"""

import os
from pathlib import Path

import psycopg
from django.db import connection

# Django is set up by config.wsgi: models can be imported after it, not before.
from config.wsgi import application

# isort: split
from checkout.timeline import event_recorded

ARM_FILE = Path(os.environ["DRILL_ARM_FILE"])


def drop_connection_when_armed(sender, *, event, **kwargs) -> None:
    try:
        armed_kind = ARM_FILE.read_text().strip()
    except FileNotFoundError:
        return
    if event.kind != armed_kind:
        return
    try:
        ARM_FILE.unlink()
    except FileNotFoundError:  # another request (another gunicorn worker) took it
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        [backend] = cursor.fetchone()
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as admin:
        # Waits (up to 5 s) until the backend is gone: the request's next statement fails.
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", [backend])


event_recorded.connect(drop_connection_when_armed, dispatch_uid="drill.drop_connection")

__all__ = ["application"]
