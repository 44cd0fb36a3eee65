"""The shared formatters every front-end words times, ages, changes and conditions with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.model.formatting import (
    format_age,
    format_ago,
    format_change,
    format_condition,
    format_fraction,
    format_time,
    join_capped,
)
from signals.catalog import compact_usd
from signals.metrics import metric_info


@pytest.mark.parametrize(
    ("age", "shown"),
    [(timedelta(seconds=-3), "0 s"), (timedelta(seconds=59), "59 s"),
     (timedelta(minutes=12), "12 min"), (timedelta(minutes=60), "1 h"),
     (timedelta(minutes=61), "1 h"), (timedelta(hours=31, minutes=45), "31 h"),
     (timedelta(hours=47, minutes=59), "47 h"), (timedelta(hours=48), "2 d"),
     (timedelta(days=3, hours=5, minutes=59), "3 d")],
)  # fmt: skip
def test_an_age_is_its_one_largest_unit(age: timedelta, shown: str) -> None:
    assert format_age(age) == shown
    assert format_ago(age) == f"{shown} ago"


def test_times_are_utc_to_the_minute() -> None:
    paris = timezone(timedelta(hours=1))
    assert format_time(datetime(2026, 1, 5, 13, 30, 59, tzinfo=paris)) == "2026-01-05 12:30 UTC"
    assert format_time(datetime(2026, 1, 5, 9, 5)) == "2026-01-05 09:05 UTC"
    assert format_time(datetime(2026, 1, 5, 9, 5, tzinfo=UTC)) == "2026-01-05 09:05 UTC"


def test_percent_metrics_move_in_percentage_points() -> None:
    assert format_change("btc_dominance", 58.2, 60.5) == "−2.30 pp from 60.50%"
    assert format_change("btc_dominance", 60.5, 58.2) == "+2.30 pp from 58.20%"
    assert format_change("eth_btc_vs_sma50", 1.0, -0.5) == "+1.50 pp from −0.50%"


def test_prices_and_levels_move_in_percent() -> None:
    assert format_change("btc_usd", 94_666, 91_200) == "+3.8% from $91,200"
    assert format_change("eth_usd", 3_000, 3_200) == "−6.2% from $3,200.00"
    assert format_change("rut", 2_100, 2_000) == "+5.0% from 2,000.00"
    # A move under a tenth of a percent keeps two decimals rather than reading +0.0%.
    assert format_change("btc_usd", 100_030, 100_000) == "+0.03% from $100,000"


def test_compact_money_where_the_catalogue_says_so() -> None:
    assert format_change("total2", 1.35e12, 1.32e12) == "+2.3% from $1.32T"
    assert metric_info("total2").format(1_321_600_000_000) == "$1.32T"
    assert metric_info("total3").format(937.6e9) == "$937.6B"
    assert metric_info("total3").format(84.24e9) == "$84.2B"
    assert metric_info("total3").format(5.921e9) == "$5.92B"
    # Rounding up to the next unit moves to it.
    assert metric_info("total3").format(999.96e9) == "$1.00T"
    # Billions and millions of dollars read in the same units as plain dollars.
    assert metric_info("net_liquidity").format(5_921.3) == "$5.92T"
    assert metric_info("btc_etf_flow").format(-87.4) == "−$87.4M"
    assert metric_info("btc_etf_flow").format(0.5) == "$500.0k"
    # Prices keep their precision.
    assert metric_info("btc_usd").format(91_234) == "$91,234"
    assert metric_info("eth_usd").format(3_187.42) == "$3,187.42"


def test_compact_usd_reads_three_or_four_digits() -> None:
    assert [compact_usd(v) for v in (0, 512, 999.6, 91_234, 1_500_000, 2.5e15)] == [
        "$0", "$512", "$1.00k", "$91.2k", "$1.50M", "$2,500.0T",
    ]  # fmt: skip


def test_counts_and_scores_are_plain_differences() -> None:
    assert format_change("risk_on", 4, 2) == "up from 2"
    assert format_change("risk_on", 2, 4) == "down from 4"
    assert format_change("rut_spx_streak", 9, 8) == "up from 8"
    assert format_change("btc_etf_streak", 0, 5) == "down from 5"


def test_other_numbers_move_by_their_signed_difference() -> None:
    assert format_change("asi", 48, 55) == "−7 from 55"
    assert format_change("net_liquidity_4w", 12.5, -3.0) == "+$15.5B from −$3.00B"
    assert format_change("alt_volume_ratio", 1.62, 1.4) == "+0.22 from 1.40 x"


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
