"""Index sessions as pure functions: final closes, their times, ranges, and the beat streak."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from signals.indices import (
    DailyBar,
    IndexChart,
    SessionClose,
    TradingPeriod,
    beat_streaks,
    chart_range,
    close_series,
    close_time,
    completed_closes,
)

NEW_YORK = ZoneInfo("America/New_York")


def series(closes: dict[date, float]) -> pd.Series:
    return close_series(
        SessionClose(day, close, datetime.now(UTC)) for day, close in closes.items()
    )


def days(n: int, start: date = date(2024, 3, 4)) -> list[date]:
    return [start + timedelta(days=i) for i in range(n)]


def at_new_york(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), NEW_YORK).astimezone(UTC)


def test_streak_breaks_and_restarts() -> None:
    d = days(7)
    index = series(dict(zip(d, [100, 102, 104, 103, 105, 107, 109], strict=True)))
    bench = series(dict(zip(d, [100, 101, 102, 103, 104, 105, 106], strict=True)))
    # Returns: index +2.0, +1.96, -0.96, +1.94, +1.90, +1.87 %; bench about +1 % each day.
    streak = beat_streaks(index, bench)
    assert streak.to_list() == [1, 2, 0, 1, 2, 3]
    assert list(pd.DatetimeIndex(streak.index).date) == d[1:]


def test_a_session_missing_in_either_series_is_skipped_not_a_break() -> None:
    d = days(4)
    index = series({d[0]: 100, d[1]: 110, d[2]: 105, d[3]: 106})
    bench = series({d[0]: 100, d[2]: 101, d[3]: 103})  # d[1] missing (null at Yahoo)
    # Aligned: d0 -> d2 is +5 % vs +1 % (beat), d2 -> d3 is +0.95 % vs +1.98 % (no).
    assert beat_streaks(index, bench).to_list() == [1, 0]
    index_gap = series({d[0]: 100, d[2]: 105, d[3]: 107})
    bench_full = series({d[0]: 100, d[1]: 90, d[2]: 101, d[3]: 102})
    # d0 -> d2: +5 % vs +1 %; d2 -> d3: +1.90 % vs +0.99 %: a streak of two across the gap.
    assert beat_streaks(index_gap, bench_full).to_list() == [1, 2]


def test_equal_returns_do_not_count() -> None:
    d = days(3)
    index = series(dict(zip(d, [100, 101, 102], strict=True)))
    bench = series(dict(zip(d, [200, 202, 204], strict=True)))
    assert beat_streaks(index, bench).to_list() == [0, 0]


def test_close_time_is_four_pm_new_york_across_daylight_saving() -> None:
    chart = IndexChart("^RUT", NEW_YORK, (), None)
    assert close_time(date(2024, 3, 8), chart) == datetime(2024, 3, 8, 21, 0, tzinfo=UTC)
    assert close_time(date(2024, 3, 11), chart) == datetime(2024, 3, 11, 20, 0, tzinfo=UTC)


def test_current_period_gives_the_exact_end_of_an_early_close() -> None:
    half_day = date(2024, 11, 29)
    period = TradingPeriod(at_new_york(half_day, 9, 30), at_new_york(half_day, 13))
    chart = IndexChart("^RUT", NEW_YORK, (DailyBar(half_day, 2400.0),), period)
    assert close_time(half_day, chart) == datetime(2024, 11, 29, 18, 0, tzinfo=UTC)
    assert completed_closes(chart, datetime(2024, 11, 29, 18, 10, tzinfo=UTC)) == ()
    assert completed_closes(chart, datetime(2024, 11, 29, 18, 15, tzinfo=UTC)) == (
        SessionClose(half_day, 2400.0, datetime(2024, 11, 29, 18, 0, tzinfo=UTC)),
    )


def test_a_session_still_trading_or_settling_is_not_final() -> None:
    d = date(2024, 3, 7)
    period = TradingPeriod(at_new_york(d, 9, 30), at_new_york(d, 16))
    bars = (DailyBar(date(2024, 3, 6), 103.0), DailyBar(d, 110.0))
    chart = IndexChart("^RUT", NEW_YORK, bars, period)
    trading = completed_closes(chart, at_new_york(d, 13))
    settling = completed_closes(chart, at_new_york(d, 16, 10))
    final = completed_closes(chart, at_new_york(d, 16, 15))
    assert [c.close for c in trading] == [103.0]
    assert [c.close for c in settling] == [103.0]
    assert [c.close for c in final] == [103.0, 110.0]


def test_range_is_the_shortest_that_reaches_back() -> None:
    today = date(2024, 3, 7)
    assert chart_range(date(2024, 3, 6), today) == "5d"
    assert chart_range(date(2024, 3, 2), today) == "5d"
    assert chart_range(date(2024, 2, 16), today) == "1mo"
    assert chart_range(date(2023, 3, 1), today) == "2y"
    assert chart_range(date(2010, 1, 1), today) is None
