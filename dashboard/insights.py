"""The insights over the Checkout sessions list for a period: sessions by outcome per day (the
chart), the checkout funnel with its drop-offs and the top decline reasons, each figure with
the URL of the list filtered to exactly the sessions it counts."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.http import QueryDict

from checkout.declines import DeclineExplanation
from checkout.rollup import Unfinished, period_counts, top_decline_reasons
from dashboard.charts import OutcomeChart, outcome_chart
from dashboard.forms import DEFAULT_PERIOD, PERIODS, SessionListForm

TOP_REASONS = 5


@dataclass(frozen=True)
class FunnelRow:
    name: str
    label: str
    count: int
    percent: float  # of the sessions opened
    url: str  # the list of the sessions that reached this step
    dropped: int  # of the step before, the sessions that stopped there
    dropped_percent: float  # of the step before
    dropped_url: str | None


@dataclass(frozen=True)
class ReasonRow:
    reason: str
    explanation: DeclineExplanation
    declines: int
    sessions: int
    url: str  # the list of the sessions with such a decline


@dataclass(frozen=True)
class PeriodChoice:
    days: int
    url: str
    active: bool


@dataclass(frozen=True)
class Insights:
    days: int
    first_day: date
    last_day: date
    chart: OutcomeChart
    funnel: list[FunnelRow]
    reasons: list[ReasonRow]
    periods: list[PeriodChoice]
    period_url: str  # the list of every session of the period
    period_param: str  # "&period=N" for a link to the list, "" for the default period


def _percent(part: int, whole: int) -> float:
    return round(100 * part / whole, 1) if whole else 0.0


def session_insights(
    org,
    mode: str,
    *,
    form: SessionListForm,
    now: datetime,
    unfinished: Unfinished,
    list_url: str,
) -> Insights:
    """The form's period, the last ``days`` UTC days (today included): three queries besides
    ``unfinished``. The period's links keep the list's tab and filters; each figure's link
    shows exactly its sessions (the period's days and the figure's filter, nothing else)."""
    days = form.period_days
    last_day = now.astimezone(UTC).date()
    first_day = last_day - timedelta(days=days - 1)

    def url(**params) -> str:
        query = QueryDict(mutable=True)
        query.update({"from": first_day.isoformat(), "to": last_day.isoformat(), **params})
        if days != DEFAULT_PERIOD:
            query["period"] = str(days)
        return f"{list_url}?{query.urlencode()}"

    counts = period_counts(org, mode, first_day=first_day, last_day=last_day, unfinished=unfinished)
    steps = counts.funnel.steps
    opened = steps[0].count
    funnel = []
    for previous, step in zip([None, *steps], steps, strict=False):
        funnel.append(
            FunnelRow(
                name=step.name,
                label=step.label,
                count=step.count,
                percent=_percent(step.count, opened),
                url=url() if previous is None else url(step=step.name),
                dropped=step.dropped,
                dropped_percent=_percent(step.dropped, previous.count) if previous else 0.0,
                dropped_url=previous and url(step=f"dropped_{step.name}"),
            )
        )
    reasons = [
        ReasonRow(
            reason.reason,
            reason.explanation,
            reason.count,
            reason.sessions,
            url(reason=reason.reason),
        )
        for reason in top_decline_reasons(
            org,
            mode,
            first_day=first_day,
            last_day=last_day,
            limit=TOP_REASONS,
            unfinished=unfinished,
        )
    ]
    periods = [
        PeriodChoice(
            choice,
            f"{list_url}?{form.query(period=choice, drop=('after', 'before'))}".rstrip("?"),
            choice == days,
        )
        for choice in PERIODS
    ]
    return Insights(
        days=days,
        first_day=first_day,
        last_day=last_day,
        chart=outcome_chart(counts.days),
        funnel=funnel,
        reasons=reasons,
        periods=periods,
        period_url=url(),
        period_param="" if days == DEFAULT_PERIOD else f"&period={days}",
    )
