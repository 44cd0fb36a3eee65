"""Backtests replay hand-built series through the engine's own evaluation: dates worked out by hand."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.model.backtest import (
    Backtest,
    Event,
    brief,
    change_after,
    reference_window,
    replay,
    report_lines,
    with_aftermath,
)
from bot.model.rules import BUILTIN_RULES, Rule
from signals.types import Sample

DAY0 = datetime(2025, 1, 1, tzinfo=UTC)
MAX_AGE = timedelta(hours=2)
ASI_ABOVE_50 = next(r for r in BUILTIN_RULES if r.id == "asi-above-50")
ALTSEASON = next(r for r in BUILTIN_RULES if r.id == "altseason")


def day(n: int) -> datetime:
    return DAY0 + timedelta(days=n)


def daily(metric: str, values: list[float], first: int = 0) -> list[Sample]:
    return [Sample(metric, v, day(first + k), "test") for k, v in enumerate(values)]


def events(result: Backtest) -> list[tuple[str, int, float]]:
    return [(e.state, (e.at - DAY0).days, e.value) for e in result.events]


def test_a_level_rule_fires_and_resolves_past_its_band() -> None:
    # altseason: asi >= 75, resolves only below 75 - 4 = 71.
    assert (ALTSEASON.op, ALTSEASON.threshold, ALTSEASON.band) == (">=", 75, 4.0)
    result = replay(ALTSEASON, daily("asi", [70, 76, 80, 72, 70, 75, 60]), MAX_AGE)
    assert events(result) == [
        ("firing", 1, 76),
        ("resolved", 4, 70),  # 72 on day 3 is inside the band: still firing
        ("firing", 5, 75),
        ("resolved", 6, 60),
    ]
    assert result.samples == 7
    assert result.firing_time == timedelta(days=4)
    assert not result.still_firing
    assert len(result.firings) == 2


def test_a_crossing_needs_a_before_and_re_arms_only_past_its_band() -> None:
    # asi crosses above 50, re-arms below 46.
    assert ASI_ABOVE_50.band == 4.0
    result = replay(ASI_ABOVE_50, daily("asi", [55, 48, 52, 47, 53, 45, 51]), MAX_AGE)
    # Day 0 is above 50 with nothing before it: no crossing. Day 3's 47 is inside the band.
    assert events(result) == [("firing", 2, 52), ("resolved", 5, 45), ("firing", 6, 51)]
    assert result.still_firing
    assert result.firing_time == timedelta(days=3)


def test_a_new_high_is_measured_against_the_history_before_the_window() -> None:
    rule = Rule("rut-high", "rut", "new high", None, "high")
    series = daily("rut", [10, 12, 11, 13, 13, 9, 14])
    seeded = replay(rule, series, MAX_AGE, high_before=12.5)
    assert events(seeded) == [("firing", 3, 13), ("firing", 6, 14)]
    # Day 3's high holds through the equal close of day 4 and ends with day 5's 9.
    assert seeded.firing_time == timedelta(days=2)
    # Nothing stored before: the first close starts the record, as the live engine does.
    fresh = replay(rule, series, MAX_AGE)
    assert events(fresh) == [("firing", 1, 12), ("firing", 3, 13), ("firing", 6, 14)]


def test_a_for_duration_holds_on_the_samples_own_times() -> None:
    rule = replace(ALTSEASON, for_duration=timedelta(days=2))
    result = replay(rule, daily("asi", [76, 77, 78, 70]), MAX_AGE)
    assert events(result) == [("firing", 2, 78), ("resolved", 3, 70)]


def test_reminders_are_not_counted_as_firings() -> None:
    rule = replace(ALTSEASON, repeat_interval=timedelta(days=1))
    result = replay(rule, daily("asi", [80, 81, 82, 83]), MAX_AGE)
    assert events(result) == [("firing", 0, 80)]


def test_samples_arrive_in_any_order_and_other_metrics_are_ignored() -> None:
    series = daily("asi", [70, 76, 70])
    mixed = [series[2], Sample("btc_usd", 1e5, day(1), "x"), series[0], series[1]]
    assert events(replay(ALTSEASON, mixed, MAX_AGE)) == [("firing", 1, 76), ("resolved", 2, 70)]


def test_what_followed_a_firing_and_where_history_runs_out() -> None:
    btc = daily("btc_usd", [100.0 + k for k in range(41)])
    assert change_after(btc, day(2), 30) == pytest.approx(132 / 102 - 1)
    assert change_after(btc, day(2), 90) is None  # the series ends on day 40
    assert change_after(btc, day(-1), 30) is None  # nothing at or before the firing
    # A weekend gap is bridged by the next value within a week.
    gappy = [s for s in btc if (s.at - DAY0).days not in (31, 32)]
    assert change_after(gappy, day(1), 30) == pytest.approx(133 / 101 - 1)

    result = replay(ALTSEASON, daily("asi", [70, 76, 70]), MAX_AGE)
    assert reference_window(result) == (day(1) - timedelta(days=7), day(1 + 90 + 7))
    told = with_aftermath(result, {"btc_usd": btc})
    [after] = told.aftermath
    changes = {(c.metric, c.days): c.change for c in after.changes}
    assert changes == {
        ("btc_usd", 30): pytest.approx(131 / 101 - 1),
        ("btc_usd", 90): None,
        ("altbtc_index", 30): None,
        ("altbtc_index", 90): None,
    }
    lines = report_lines(told)
    assert lines[0] == "Backtest of altseason: asi >= 75 (resolves below 71)"
    assert lines[1] == "History: 3 samples of asi, 2025-01-01 to 2025-01-03"
    assert lines[2] == "2025-01-02 00:00 UTC  fired at 76"
    assert lines[3] == "    30 days later: Bitcoin +29.7%, alt/BTC index not enough history"
    assert lines[4] == "    90 days later: not enough history"
    assert lines[5] == "2025-01-03 00:00 UTC  resolved at 70"
    assert lines[6] == "Fired once; firing for 24 h in all."


def test_brief_says_how_often_and_when_last_or_that_history_is_short() -> None:
    result = replay(ALTSEASON, daily("asi", [70, 76, 70, 80]), MAX_AGE)
    assert brief(result) == "would have fired 2 times since 2025-01-01, last on 2025-01-04"
    quiet = replay(ALTSEASON, daily("asi", [70, 71]), MAX_AGE)
    assert brief(quiet) == "would not have fired since 2025-01-01 (2 samples)"
    short = replay(ALTSEASON, daily("asi", [80]), MAX_AGE)
    assert brief(short) == "not enough history yet (1 stored sample of asi)"
    assert report_lines(short)[1] == "Not enough history yet (1 stored sample of asi)."
    assert result.events[-1] == Event("firing", day(3), 80)
