"""Exact session counts, funnel and decline reasons, fast at any size: rollups of finished
sessions plus a live count of the few that are not finished yet.

A session whose ``expires_at`` has passed can never change: paying, declining, saving details
and extending all need ``expires_at > now`` under the session's row lock. So every session with
``expires_at`` at or before the watermark is counted once in ``SessionRollup`` (per org, mode,
day of creation and final status, with how many provided their details) and its declined
attempts once in ``DeclineRollup`` (per org, mode, day of creation and reason); only the
sessions after the watermark are counted row by row, through the ``(org, mode, expires_at)``
indexes.

``advance_rollup`` (which ``db_worker`` runs every ``ROLLUP_INTERVAL_SECONDS``) moves the watermark
to ``now - ROLLUP_SAFETY_MARGIN_SECONDS``: older than any payment transaction that could still
commit (a processor call is bounded far below the margin), so a session counted as finished
can no longer change. Counts stay exact whether or not the worker keeps up; a stale watermark
only means more rows are counted live. Writers that backdate sessions (``seed_demo``,
``make bench``) call ``rebuild_rollup`` afterwards.

A page reads the unfinished sessions once (``read_unfinished``: one grouped index-only scan
giving each day's sessions per status with their details count, and the live list's change
marker) and hands that to ``status_counts``, ``daily_status_counts`` and ``funnel``.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from checkout.choices import EventKind, SessionStatus
from checkout.models import (
    CheckoutSession,
    DeclineRollup,
    RollupWatermark,
    SessionRollup,
    TimelineEvent,
)
from checkout.queries import (
    DeclineReasonCount,
    Funnel,
    change_marker_aggregates,
    change_marker_of,
    decline_reason_expression,
    status_conditions,
)

BEGINNING = datetime(2000, 1, 1, tzinfo=UTC)
# Unfinished sessions with declines looked up by id at most (see ``_live_decline_rows``).
LIVE_DECLINED_BY_ID = 5000
STATUSES = SessionStatus.values
ATTEMPTED = {SessionStatus.SUCCEEDED, SessionStatus.FAILED}  # paid, or declined at least once
# What a list filter by funnel step keeps of a group of sessions of one status, given
# (status, sessions, with details): the SQL rules of ``queries.funnel_step_conditions`` and
# ``dropped_at_condition`` read off the status (attempted ⇔ succeeded or failed).
STEP_SHARE = {
    "opened": lambda status, sessions, details: sessions,
    "details_provided": lambda status, sessions, details: details,
    "payment_attempted": lambda status, sessions, details: sessions * (status in ATTEMPTED),
    "paid": lambda status, sessions, details: sessions * (status == SessionStatus.SUCCEEDED),
    "dropped_details_provided": lambda status, sessions, details: sessions - details,
    "dropped_payment_attempted": lambda status, sessions, details: (
        details * (status not in ATTEMPTED)
    ),
    "dropped_paid": lambda status, sessions, details: sessions * (status == SessionStatus.FAILED),
}


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


def _upsert(table: str, key: list[str], counts: list[str], grouped) -> None:
    """``INSERT`` the rows of the grouped queryset ``grouped`` (key columns, then counts) into
    ``table``, adding the counts to a row that already exists: one statement."""
    select_sql, params = grouped.query.sql_with_params()
    added = ", ".join(f"{column} = {table}.{column} + EXCLUDED.{column}" for column in counts)
    with connection.cursor() as cursor:
        cursor.execute(
            # "WHERE true" keeps SQLite from reading ON CONFLICT as part of the SELECT.
            f"INSERT INTO {table} ({', '.join(key + counts)}) "  # noqa: S608 - our SQL
            f"SELECT * FROM ({select_sql}) AS finished WHERE true "
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {added}",
            params,
        )


def _add_to_rollup(sessions, *, finished_by: datetime) -> None:
    """Add ``sessions`` (all finished by ``finished_by``) and their declines to the rollups."""
    day = TruncDate("created_at", tzinfo=UTC)
    _upsert(
        SessionRollup._meta.db_table,
        ["org_id", "mode", "day", "status"],
        ["count", "details_provided"],
        sessions.order_by()
        .annotate(day=day)
        .with_status(finished_by)
        .values_list("org_id", "mode", "day", "status")
        .annotate(
            sessions=Count("pk"),
            details=Count("pk", filter=Q(details_provided_at__isnull=False)),
        ),
    )
    _upsert(
        DeclineRollup._meta.db_table,
        ["org_id", "mode", "day", "reason"],
        ["declines", "sessions", "paid_sessions"],
        sessions.annotate(day=day).decline_reason_counts("org_id", "mode", "day"),
    )


def advance_rollup(now: datetime | None = None) -> datetime:
    """Count the sessions finished since the last run into the rollups; returns the watermark."""
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
    """Recount both rollups from the sessions themselves, up to the current watermark."""
    with transaction.atomic():
        watermark = _locked_watermark()
        SessionRollup.objects.all().delete()
        DeclineRollup.objects.all().delete()
        _add_to_rollup(
            CheckoutSession.objects.filter(expires_at__lte=watermark.finished_before),
            finished_by=watermark.finished_before,
        )


@dataclass(frozen=True)
class Unfinished:
    """An org's sessions in one mode not in the rollup yet, read once for a whole page:
    ``groups`` maps (day of creation, status) to [sessions, of which with details]."""

    watermark: datetime
    now: datetime
    groups: dict[tuple[date, str], list[int]]
    # The live list's ``change_marker(since=now, now=now)``, from the same scan.
    change_marker: str

    def on_days(self, first_day: date | None, last_day: date | None):
        """(day, status, sessions, details) of the groups created in the days given."""
        for (day, status), (sessions, details) in self.groups.items():
            if (first_day is None or day >= first_day) and (last_day is None or day <= last_day):
                yield day, status, sessions, details


def read_unfinished(org, mode: str, now: datetime | None = None) -> Unfinished:
    """The unfinished sessions of ``org`` in ``mode``, per day and status: two queries (the
    watermark, then one index-only scan of the covering ``(org, mode, expires_at)`` index,
    grouped by day only, each status a filtered count: the planner hashes the few days, where
    grouping by status too would sort every row)."""
    now = now or timezone.now()
    watermark = _watermark()
    sessions = CheckoutSession.objects.for_org(org, mode)
    details = Q(details_provided_at__isnull=False)
    counts = {}
    for status, condition in status_conditions(now).items():
        # COUNT(expires_at), never null: every column read is in the covering index.
        counts[f"{status}_sessions"] = Count("expires_at", filter=condition)
        counts[f"{status}_details"] = Count("expires_at", filter=condition & details)
    # The marker reads sessions with expires_at > now, all among these while the watermark is
    # behind now (always, but for a clock moved back in a test: then it reads them itself).
    marker_in_scan = watermark <= now
    rows = list(
        sessions.filter(expires_at__gt=watermark)
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day")
        .annotate(**counts, **(change_marker_aggregates(now, now) if marker_in_scan else {}))
        .order_by()
    )
    groups = {}
    for row in rows:
        for status in STATUSES:
            if row[f"{status}_sessions"]:
                groups[row["day"], status] = [
                    row[f"{status}_sessions"],
                    row[f"{status}_details"],
                ]
    marker = (
        change_marker_of(rows) if marker_in_scan else sessions.change_marker(since=now, now=now)
    )
    return Unfinished(watermark=watermark, now=now, groups=groups, change_marker=marker)


def _empty_counts() -> dict[str, int]:
    return dict.fromkeys(["all", *STATUSES], 0)


def _with_all(counts: dict[str, int]) -> dict[str, int]:
    counts["all"] = sum(counts[status] for status in STATUSES)
    return counts


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
    return {org_id: _with_all(org_counts) for org_id, org_counts in counts.items()}


def status_counts(
    org,
    mode: str,
    now: datetime | None = None,
    *,
    unfinished: Unfinished | None = None,
    first_day: date | None = None,
    last_day: date | None = None,
    step: str | None = None,
) -> dict[str, int]:
    """An org's sessions in one mode per status plus ``all``, exact: optionally only those
    created from ``first_day`` to ``last_day`` (UTC days, both included) and only those a
    funnel ``step`` filter keeps (a step of ``FUNNEL_STEPS``, or ``dropped_`` + one). One
    rollup query, plus ``read_unfinished``'s two unless a page read them already."""
    unfinished = unfinished or read_unfinished(org, mode, now)
    share = STEP_SHARE[step or "opened"]
    finished = SessionRollup.objects.filter(org=org, mode=mode)
    if first_day is not None:
        finished = finished.filter(day__gte=first_day)
    if last_day is not None:
        finished = finished.filter(day__lte=last_day)
    rows = (
        finished.values_list("status")
        .annotate(sessions=Sum("count"), details=Sum("details_provided"))
        .order_by()
    )
    counts = _empty_counts()
    for status, sessions, details in rows:
        counts[status] += share(status, sessions, details)
    for _day, status, sessions, details in unfinished.on_days(first_day, last_day):
        counts[status] += share(status, sessions, details)
    return _with_all(counts)


@dataclass(frozen=True)
class PeriodCounts:
    """An org's sessions created on each day of a period, per status, with how many provided
    their details: what the chart and the funnel are drawn from."""

    days: dict[date, dict[str, int]]  # day → status (and "all") → sessions
    details: dict[str, int]  # status → sessions with details, over the period

    @property
    def funnel(self) -> Funnel:
        totals = _empty_counts()
        for counts in self.days.values():
            for status in STATUSES:
                totals[status] += counts[status]
        return Funnel(
            opened=sum(totals[status] for status in STATUSES),
            details_provided=sum(self.details.values()),
            payment_attempted=sum(totals[status] for status in ATTEMPTED),
            paid=totals[SessionStatus.SUCCEEDED],
            details_not_attempted=sum(
                self.details[status] for status in STATUSES if status not in ATTEMPTED
            ),
        )


def period_counts(
    org,
    mode: str,
    *,
    first_day: date,
    last_day: date,
    now: datetime | None = None,
    unfinished: Unfinished | None = None,
) -> PeriodCounts:
    """Sessions created from ``first_day`` to ``last_day`` (UTC), per day and status, with
    their details counts: one rollup query, plus ``read_unfinished``'s unless given."""
    unfinished = unfinished or read_unfinished(org, mode, now)
    days = {
        first_day + timedelta(days=offset): _empty_counts()
        for offset in range((last_day - first_day).days + 1)
    }
    details = dict.fromkeys(STATUSES, 0)
    finished = (
        SessionRollup.objects.filter(org=org, mode=mode, day__range=(first_day, last_day))
        .values_list("day", "status")
        .annotate(sessions=Sum("count"), details=Sum("details_provided"))
        .order_by()
    )
    for day, status, sessions, with_details in [
        *finished,
        *unfinished.on_days(first_day, last_day),
    ]:
        days[day][status] += sessions
        details[status] += with_details
    return PeriodCounts({day: _with_all(counts) for day, counts in days.items()}, details)


def daily_status_counts(
    org,
    mode: str,
    *,
    first_day: date,
    last_day: date,
    now: datetime | None = None,
    unfinished: Unfinished | None = None,
) -> dict[date, dict[str, int]]:
    """Sessions created on each day from ``first_day`` to ``last_day`` (UTC), per status."""
    return period_counts(
        org, mode, first_day=first_day, last_day=last_day, now=now, unfinished=unfinished
    ).days


def funnel(
    org,
    mode: str,
    *,
    first_day: date,
    last_day: date,
    now: datetime | None = None,
    unfinished: Unfinished | None = None,
) -> Funnel:
    """The funnel of the sessions created from ``first_day`` to ``last_day`` (UTC)."""
    return period_counts(
        org, mode, first_day=first_day, last_day=last_day, now=now, unfinished=unfinished
    ).funnel


def _day_bounds(first_day: date | None, last_day: date | None):
    start = datetime.combine(first_day, time.min, tzinfo=UTC) if first_day else None
    end = datetime.combine(last_day + timedelta(days=1), time.min, tzinfo=UTC) if last_day else None
    return start, end


def _decline_rows(org, mode, *, first_day, last_day, watermark, reason=None):
    """(reason, declines, sessions, paid sessions) from the rollup, then from the unfinished
    sessions: three queries (see ``_live_decline_rows``)."""
    finished = DeclineRollup.objects.filter(org=org, mode=mode)
    if first_day is not None:
        finished = finished.filter(day__gte=first_day)
    if last_day is not None:
        finished = finished.filter(day__lte=last_day)
    if reason is not None:
        finished = finished.filter(reason=reason)
    finished = (
        finished.values_list("reason")
        .annotate(Sum("declines"), Sum("sessions"), Sum("paid_sessions"))
        .order_by()
    )
    live = (
        CheckoutSession.objects.for_org(org, mode)
        .filter(expires_at__gt=watermark)
        .created_between(*_day_bounds(first_day, last_day))
    )
    rows = [*finished, *_live_decline_rows(live)]
    return [row for row in rows if reason is None or row[0] == reason]


def _live_decline_rows(unfinished_sessions):
    """(reason, declines, sessions, paid sessions) of the unfinished sessions' declines.

    First the ids of those with a declined attempt, from the covering partial index on
    ``failed_attempts > 0`` (a few, against thousands of unfinished sessions), then their
    ``payment_failed`` events by session id. One join would be one query, but the planner,
    counting on a share of the unfinished sessions having declines as large as the history's,
    reads every unfinished session or starts parallel workers for a few hundred rows.
    A card-testing storm with more declined sessions than ``LIVE_DECLINED_BY_ID`` is counted
    with that join instead (exact, slower).
    """
    declined = list(
        unfinished_sessions.filter(failed_attempts__gt=0)
        .order_by()
        .values_list("pk", "is_paid")[: LIVE_DECLINED_BY_ID + 1]
    )
    if len(declined) > LIVE_DECLINED_BY_ID:
        return list(
            unfinished_sessions.decline_reason_counts().values_list(
                "reason", "declines", "sessions", "paid_sessions"
            )
        )
    paid = {pk for pk, is_paid in declined if is_paid}
    per_session = (
        TimelineEvent.objects.filter(
            session_id__in=[pk for pk, _ in declined], kind=EventKind.PAYMENT_FAILED
        )
        .annotate(reason=decline_reason_expression())
        .values_list("reason", "session_id")
        .annotate(declines=Count("pk"))
        .order_by()
    )
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for reason, session_id, declines in per_session:
        totals[reason][0] += declines
        totals[reason][1] += 1
        totals[reason][2] += session_id in paid
    return [(reason, *counts) for reason, counts in totals.items()]


def top_decline_reasons(
    org,
    mode: str,
    *,
    first_day: date,
    last_day: date,
    limit: int = 5,
    unfinished: Unfinished | None = None,
) -> list[DeclineReasonCount]:
    """The most frequent decline reasons of the sessions created from ``first_day`` to
    ``last_day`` (UTC), with their declines and sessions: two queries (the rollup, the
    unfinished sessions' declines), plus the watermark unless a page read it already."""
    watermark = unfinished.watermark if unfinished else _watermark()
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for reason, declines, sessions, _paid in _decline_rows(
        org, mode, first_day=first_day, last_day=last_day, watermark=watermark
    ):
        totals[reason][0] += declines
        totals[reason][1] += sessions
    ranked = sorted(totals.items(), key=lambda item: (-item[1][0], item[0]))[:limit]
    return [
        DeclineReasonCount(reason, declines, sessions) for reason, (declines, sessions) in ranked
    ]


def decline_reason_status_counts(
    org,
    mode: str,
    reason: str,
    *,
    first_day: date | None = None,
    last_day: date | None = None,
    unfinished: Unfinished | None = None,
) -> dict[str, int]:
    """Per status, the sessions created in those days with a decline for ``reason`` (the list
    filtered to a decline reason): each is succeeded (paid in the end) or failed."""
    watermark = unfinished.watermark if unfinished else _watermark()
    counts = _empty_counts()
    for _reason, _declines, sessions, paid in _decline_rows(
        org, mode, first_day=first_day, last_day=last_day, watermark=watermark, reason=reason
    ):
        counts[SessionStatus.SUCCEEDED] += paid
        counts[SessionStatus.FAILED] += sessions - paid
    return _with_all(counts)
