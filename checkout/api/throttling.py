"""Per-key request limits on the JSON API: at most ``API_RATE_LIMIT_REQUESTS`` (100) requests
per API key in each fixed window of ``API_RATE_LIMIT_WINDOW_SECONDS`` (10); past it ``429``
``rate_limit_error`` with ``Retry-After`` (seconds until the window ends).

Counted in PostgreSQL, which every app server shares: one upsert per request
(``INSERT … ON CONFLICT DO UPDATE … RETURNING count``) increments and reads the key's window in
one atomic statement, so concurrent requests never under-count (a cache's get-then-set would).
The count is not worth an fsync: its transaction commits with ``synchronous_commit`` off (a
crash may forget the last moment's counts, never a payment). Windows are fixed, so a client can
send up to twice the limit across a window boundary; refused requests count too, so a client
that keeps hammering stays refused until a window starts.

Enforced where the key is authenticated (``checkout.api.auth``): ninja's throttle hook keeps one
throttle object per operation for every thread, which could not carry a request's own
``Retry-After`` safely.
"""

import math

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from checkout.api.errors import ApiError
from checkout.models import ApiRequestWindow
from orgs.models import ApiKey


def count_request(*, api_key: ApiKey, window_start: int) -> int:
    """Add one request to the key's window; the window's count including it."""
    if connection.in_atomic_block:
        # Inside a caller's transaction (the test suite's): its commit decides.
        return _upsert_count(api_key=api_key, window_start=window_start)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('synchronous_commit', 'off', true)")
        return _upsert_count(api_key=api_key, window_start=window_start)


def _upsert_count(*, api_key: ApiKey, window_start: int) -> int:
    table = ApiRequestWindow._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (api_key_id, window_start, count) VALUES (%s, %s, 1) "  # noqa: S608 - our SQL
            f"ON CONFLICT (api_key_id, window_start) DO UPDATE SET count = {table}.count + 1 "
            "RETURNING count",
            [api_key.pk, window_start],
        )
        return cursor.fetchone()[0]


def enforce_rate_limit(api_key: ApiKey) -> None:
    """Count this request against ``api_key``; raise the API's 429 once the window is full."""
    maximum = settings.API_RATE_LIMIT_REQUESTS
    window = settings.API_RATE_LIMIT_WINDOW_SECONDS
    if maximum <= 0 or window <= 0:
        return
    now = timezone.now().timestamp()
    window_start = int(now // window) * window
    if count_request(api_key=api_key, window_start=window_start) <= maximum:
        return
    retry_after = max(1, math.ceil(window_start + window - now))
    raise ApiError(
        429,
        type="rate_limit_error",
        code="rate_limit_exceeded",
        message=f"Too many requests with this API key: at most {maximum} every {window} "
        f"seconds. Retry after {retry_after} second{'s' if retry_after != 1 else ''}.",
        headers={"Retry-After": str(retry_after)},
    )
