"""The shared formatters every front-end words times, ages, changes and conditions with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.model.formatting import (
    format_age,
    format_change,
    format_condition,
    format_fraction,
    format_time,
    join_capped,
)
from signals.metrics import metric_info


@pytest.mark.parametrize(
    ("age", "shown"),
    [(timedelta(seconds=-3), "0s"), (timedelta(seconds=59), "59s"), (timedelta(minutes=12), "12m"),
     (timedelta(minutes=60), "1h"), (timedelta(minutes=61), "1h 1m"),
     (timedelta(hours=31, minutes=45), "1d 7h"), (timedelta(days=3), "3d"),
     (timedelta(days=3, hours=5, minutes=59), "3d 5h")],
)  # fmt: skip
def test_ages_show_their_two_largest_units(age: timedelta, shown: str) -> None:
    assert format_age(age) == shown


def test_times_are_utc_to_the_minute() -> None:
    paris = timezone(timedelta(hours=1))
    assert format_time(datetime(2026, 1, 5, 13, 30, 59, tzinfo=paris)) == "2026-01-05 12:30 UTC"
    assert format_time(datetime(2026, 1, 5, 9, 5)) == "2026-01-05 09:05 UTC"
    assert format_time(datetime(2026, 1, 5, 9, 5, tzinfo=UTC)) == "2026-01-05 09:05 UTC"


def test_percent_metrics_move_in_percentage_points() -> None:
    assert format_change("btc_dominance", 58.2, 60.5) == "−2.30 pp from 60.50%"
    assert format_change("btc_dominance", 60.5, 58.2) == "+2.30 pp from 58.20%"
    assert format_change("eth_btc_vs_sma50", 1.0, -0.5) == "+1.50 pp from -0.50%"


def test_prices_move_in_money_and_percent() -> None:
    assert format_change("btc_usd", 100_200, 99_000) == "+$1,200 (+1.2%) from $99,000"
    assert format_change("eth_usd", 3_000, 3_200) == "−$200.00 (−6.2%) from $3,200.00"


def test_market_caps_read_compactly() -> None:
    assert format_change("total2", 1.35e12, 1.32e12) == "+$30.00B (+2.3%) from $1.32T"
    assert metric_info("total3").format(845.2e9) == "$845.20B"
    assert metric_info("btc_usd").format(99_000) == "$99,000"


def test_index_levels_show_their_relative_move_without_a_unit() -> None:
    assert format_change("rut", 2_100, 2_000) == "+100.00 (+5.0%) from 2,000.00"


def test_counts_and_scores_show_no_percent() -> None:
    assert format_change("risk_on", 4, 2) == "+2 from 2 of 6"
    assert format_change("asi", 48, 55) == "−7 from 55"
    assert format_change("rut_spx_streak", 9, 8) == "+1 from 8 sessions"
    assert format_change("net_liquidity_4w", 12.5, -3.0) == "+$15.5 bn from $-3.0 bn"


def test_a_change_too_small_to_show_says_so() -> None:
    assert format_change("asi", 55.2, 55.0) == "no change from 55"


def test_conditions_in_words_with_the_metric_unit() -> None:
    assert format_condition("btc_dominance", "crosses below", 59) == "crosses below 59.00%"
    assert format_condition("asi", ">=", 75) == "at or above 75"
    assert format_condition("rut", "new high", None) == "new high"
    assert format_condition("total2", ">", 1.3e12) == "above $1.30T"


@pytest.mark.parametrize(
    ("change", "shown"),
    [
        (0.125, "+12.5%"),
        (-0.03, "−3.0%"),
        (4.5, "+450.0%"),
        (-0.00004, "+0.0%"),
        (12.0, "+1,200.0%"),
    ],
)
def test_a_fractional_change_reads_as_a_signed_percentage(change: float, shown: str) -> None:
    assert format_fraction(change) == shown


def test_joined_items_stop_where_the_limit_is_and_count_the_rest() -> None:
    items = [f"C{i}" for i in range(10)]
    assert join_capped(items[:3], 20) == "C0, C1, C2"
    capped = join_capped(items, 20)
    assert capped == "C0, C1 … and 8 more"
    assert len(capped) <= 20
    assert join_capped(["x" * 30, "y"], 20) == "… and 2 more"
    assert join_capped([], 20) == ""
