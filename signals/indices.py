"""Stock-index sessions as pure functions: which closes are final, and the Russell-beats-S&P streak.

A session's close is final once its regular session has ended (plus a settling delay for the
official closing print). Its time is the end of the regular session: the chart's own
`currentTradingPeriod` for the session it describes (so early closes are exact), otherwise 16:00
in the exchange's time zone.

Streak: the two series are aligned on the sessions present in both; a session missing (or null)
in either is skipped rather than counted as a break, and the next common session's return spans
the gap for both indices alike. A session counts when the index's return beats the benchmark's
strictly; the streak is the number of consecutive counted sessions up to and including it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

REGULAR_CLOSE = time(16, 0)
SETTLE = timedelta(minutes=15)
# Yahoo's chart ranges, each with the calendar days it surely covers.
_RANGES = (
    (5, "5d"),
    (27, "1mo"),
    (88, "3mo"),
    (180, "6mo"),
    (360, "1y"),
    (725, "2y"),
    (1820, "5y"),
    (3640, "10y"),
)


@dataclass(frozen=True, slots=True)
class TradingPeriod:
    """One regular trading session's start and end."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class DailyBar:
    """One session's closing value as the chart reports it (final or not)."""

    day: date
    close: float


@dataclass(frozen=True, slots=True)
class IndexChart:
    """A daily chart of one index: bars oldest first, one per session, nulls already skipped."""

    symbol: str
    zone: ZoneInfo
    bars: tuple[DailyBar, ...]
    current: TradingPeriod | None


@dataclass(frozen=True, slots=True)
class SessionClose:
    """A final session close and the instant the session closed."""

    day: date
    close: float
    at: datetime


def close_time(day: date, chart: IndexChart) -> datetime:
    """Return when `day`'s regular session ends, in UTC."""
    current = chart.current
    if current is not None and current.start.astimezone(chart.zone).date() == day:
        return current.end.astimezone(UTC)
    return datetime.combine(day, REGULAR_CLOSE, chart.zone).astimezone(UTC)


def completed_closes(
    chart: IndexChart, now: datetime, settle: timedelta = SETTLE
) -> tuple[SessionClose, ...]:
    """Return the chart's sessions that closed at least `settle` before `now`, oldest first."""
    closes = []
    for bar in chart.bars:
        at = close_time(bar.day, chart)
        if at + settle <= now:
            closes.append(SessionClose(bar.day, bar.close, at))
    return tuple(closes)


def chart_range(last_known: date, today: date) -> str | None:
    """Return the shortest Yahoo range reaching back to `last_known`, or None past ten years."""
    gap = (today - last_known).days
    for days, name in _RANGES:
        if gap <= days:
            return name
    return None


def close_series(closes: Iterable[SessionClose]) -> pd.Series:
    """Return closes as a float series indexed by session day, oldest first."""
    items = sorted((pd.Timestamp(c.day), c.close) for c in closes)
    return pd.Series(
        [close for _, close in items],
        index=pd.DatetimeIndex([day for day, _ in items]),
        dtype="float64",
    )


def beat_streaks(index: pd.Series, benchmark: pd.Series) -> pd.Series:
    """Return the streak at every common session after the first (see the module docstring)."""
    both = pd.concat({"index": index, "benchmark": benchmark}, axis=1, join="inner")
    both = both.dropna().sort_index()
    returns = both.pct_change().iloc[1:]
    beat = returns["index"] > returns["benchmark"]
    runs = (~beat).cumsum()
    return beat.astype("int64").groupby(runs).cumsum()
