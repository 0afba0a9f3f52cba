"""Sessions by outcome per day, drawn as a server-side SVG bar chart (no script, no inline
style: bar sizes are SVG attributes, colours CSS classes)."""

from dataclasses import dataclass
from datetime import date

from checkout.choices import SessionStatus

# Bottom to top in each day's bar: what was paid sits on the baseline.
STACK = [
    SessionStatus.SUCCEEDED,
    SessionStatus.FAILED,
    SessionStatus.EXPIRED,
    SessionStatus.OPEN,
]
BAR_AREA_HEIGHT = 96
BAR_WIDTH = 14
BAR_STEP = 22


@dataclass(frozen=True)
class Segment:
    status: str
    count: int
    y: float
    height: float


@dataclass(frozen=True)
class DayBar:
    day: date
    total: int
    x: int
    segments: list[Segment]


@dataclass(frozen=True)
class OutcomeChart:
    bars: list[DayBar]
    totals: dict[str, int]
    width: int
    height: int = BAR_AREA_HEIGHT

    @property
    def conversion_percent(self) -> float | None:
        """Paid sessions among those that ended (open ones may still pay); None before any."""
        ended = self.totals["all"] - self.totals[SessionStatus.OPEN]
        return round(100 * self.totals[SessionStatus.SUCCEEDED] / ended, 1) if ended else None


def outcome_chart(days: dict[date, dict[str, int]]) -> OutcomeChart:
    """Bars for ``days`` (``checkout.rollup.daily_status_counts``), scaled to the busiest day."""
    busiest = max((counts["all"] for counts in days.values()), default=0) or 1
    bars = []
    totals = dict.fromkeys(["all", *SessionStatus.values], 0)
    for index, (day, counts) in enumerate(sorted(days.items())):
        y = float(BAR_AREA_HEIGHT)
        segments = []
        for status in STACK:
            height = BAR_AREA_HEIGHT * counts[status] / busiest
            y -= height
            if counts[status]:
                segments.append(
                    Segment(status.value, counts[status], round(y, 2), round(height, 2))
                )
        for key in totals:
            totals[key] += counts[key]
        bars.append(DayBar(day, counts["all"], index * BAR_STEP, segments))
    return OutcomeChart(bars=bars, totals=totals, width=max(len(bars) * BAR_STEP - 8, 0))
