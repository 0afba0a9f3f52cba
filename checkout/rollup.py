"""Exact session counts per status, fast at any size: a rollup of finished sessions plus a live
count of the few that are not finished yet.

A session whose ``expires_at`` has passed can never change status: paying, declining and
extending all need ``expires_at > now`` under the session's row lock. So every session with
``expires_at`` at or before the watermark is counted once in ``SessionRollup`` (per org, mode,
day of creation and final status), and only the sessions after it are counted row by row,
through the ``(org, mode, expires_at)`` index.

``advance_rollup`` (which ``db_worker`` runs every ``ROLLUP_INTERVAL_SECONDS``) moves the watermark
to ``now - ROLLUP_SAFETY_MARGIN_SECONDS``: older than any payment transaction that could still
commit (a processor call is bounded far below the margin), so a session counted as finished
can no longer change. Counts stay exact whether or not the worker keeps up; a stale watermark
only means more rows are counted live. Writers that backdate sessions (``seed_demo``,
``make bench``) call ``rebuild_rollup`` afterwards.
"""

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from checkout.choices import SessionStatus
from checkout.models import CheckoutSession, RollupWatermark, SessionRollup

BEGINNING = datetime(2000, 1, 1, tzinfo=UTC)
STATUSES = SessionStatus.values


def _locked_watermark() -> RollupWatermark:
    """The watermark row, locked until the caller's transaction ends (created if missing)."""
    RollupWatermark.objects.get_or_create(pk=1, defaults={"finished_before": BEGINNING})
    return RollupWatermark.objects.select_for_update().get(pk=1)


def _watermark() -> datetime:
    """Up to which ``expires_at`` the rollup counts (read as a value, so the planner can use
    the ``(org, mode, expires_at)`` index for the few sessions after it)."""
    finished_before = (
        RollupWatermark.objects.filter(pk=1).values_list("finished_before", flat=True).first()
    )
    return finished_before or BEGINNING


def _add_to_rollup(sessions, *, finished_by: datetime) -> None:
    """Add ``sessions`` (all finished by ``finished_by``) to the rollup in one statement."""
    grouped = (
        sessions.order_by()
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .with_status(finished_by)
        .values_list("org_id", "mode", "day", "status")
        .annotate(sessions=Count("pk"))
    )
    select_sql, params = grouped.query.sql_with_params()
    table = SessionRollup._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            # "WHERE true" keeps SQLite from reading ON CONFLICT as part of the SELECT.
            f"INSERT INTO {table} (org_id, mode, day, status, count) "  # noqa: S608 - our SQL
            f"SELECT * FROM ({select_sql}) AS finished WHERE true "
            f"ON CONFLICT (org_id, mode, day, status) "
            f"DO UPDATE SET count = {table}.count + EXCLUDED.count",
            params,
        )


def advance_rollup(now: datetime | None = None) -> datetime:
    """Count the sessions finished since the last run into the rollup; returns the watermark."""
    margin = timedelta(seconds=settings.ROLLUP_SAFETY_MARGIN_SECONDS)
    target = (now or timezone.now()) - margin
    with transaction.atomic():
        watermark = _locked_watermark()
        if target <= watermark.finished_before:
            return watermark.finished_before
        _add_to_rollup(
            CheckoutSession.objects.filter(
                expires_at__gt=watermark.finished_before, expires_at__lte=target
            ),
            finished_by=target,
        )
        watermark.finished_before = target
        watermark.save(update_fields=["finished_before"])
    return target


def rebuild_rollup() -> None:
    """Recount the rollup from the sessions themselves, up to the current watermark."""
    with transaction.atomic():
        watermark = _locked_watermark()
        SessionRollup.objects.all().delete()
        _add_to_rollup(
            CheckoutSession.objects.filter(expires_at__lte=watermark.finished_before),
            finished_by=watermark.finished_before,
        )


def _empty_counts() -> dict[str, int]:
    return dict.fromkeys(["all", *STATUSES], 0)


def status_counts_by_org(
    org_ids: Iterable[int], mode: str, now: datetime | None = None
) -> dict[int, dict[str, int]]:
    """Sessions per status plus ``all`` for each org (org pk → counts): three queries."""
    org_ids = list(org_ids)
    now = now or timezone.now()
    counts = {org_id: _empty_counts() for org_id in org_ids}
    finished = (
        SessionRollup.objects.filter(org_id__in=org_ids, mode=mode)
        .values_list("org_id", "status")
        .annotate(sessions=Sum("count"))
        .order_by()
    )
    for org_id, status, sessions in finished:
        counts[org_id][status] += sessions
    live = (
        CheckoutSession.objects.filter(org_id__in=org_ids, mode=mode)
        .filter(expires_at__gt=_watermark())
        .status_counts_by_org(now)
    )
    for org_id, live_counts in live.items():
        for status in STATUSES:
            counts[org_id][status] += live_counts[status]
    for org_counts in counts.values():
        org_counts["all"] = sum(org_counts[status] for status in STATUSES)
    return counts


def status_counts(org, mode: str, now: datetime | None = None) -> dict[str, int]:
    """An org's sessions in one mode per status plus ``all``, exact, in three queries."""
    return status_counts_by_org([org.pk], mode, now)[org.pk]


def daily_status_counts(
    org, mode: str, *, first_day: date, last_day: date, now: datetime | None = None
) -> dict[date, dict[str, int]]:
    """Sessions created on each day from ``first_day`` to ``last_day`` (UTC), per status."""
    now = now or timezone.now()
    days = {
        first_day + timedelta(days=offset): _empty_counts()
        for offset in range((last_day - first_day).days + 1)
    }
    finished = (
        SessionRollup.objects.filter(org=org, mode=mode, day__range=(first_day, last_day))
        .values_list("day", "status")
        .annotate(sessions=Sum("count"))
        .order_by()
    )
    live = (
        CheckoutSession.objects.for_org(org, mode)
        .filter(expires_at__gt=_watermark())
        .created_between(
            datetime.combine(first_day, datetime.min.time(), tzinfo=UTC),
            datetime.combine(last_day + timedelta(days=1), datetime.min.time(), tzinfo=UTC),
        )
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .with_status(now)
        .values_list("day", "status")
        .annotate(sessions=Count("expires_at"))  # index-only, as in status_counts
        .order_by()
    )
    totals: dict[date, dict[str, int]] = defaultdict(_empty_counts)
    for day, status, sessions in [*finished, *live]:
        totals[day][status] += sessions
    for day, day_counts in totals.items():
        if day in days:
            days[day] = {
                **day_counts,
                "all": sum(day_counts[status] for status in STATUSES),
            }
    return days
