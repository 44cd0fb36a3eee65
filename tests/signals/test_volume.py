"""The altcoin volume ratio and the seeding of its daily series, against hand-computed answers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from signals.market import MarketCoin
from signals.types import Sample, Stale
from signals.volume import seed_volumes, universe_volume, volume_ratio, window

NOW = datetime(2024, 6, 30, 15, 0, tzinfo=UTC)
TODAY = NOW.date()


def before(days: int) -> date:
    return TODAY - timedelta(days=days)


def test_ratio_is_the_current_sum_over_the_mean_of_the_30_previous_days() -> None:
    # 1e9, 2e9, ... 30e9 on the 30 days before today: mean 15.5e9; 31e9 / 15.5e9 = 2.
    stored = {before(31 - i): i * 1.0e9 for i in range(1, 31)}
    stored[TODAY] = 1.0e15  # today's own reading is not part of its mean
    outcome = volume_ratio(31.0e9, stored, NOW, "coingecko")
    assert outcome == Sample(
        "alt_volume_ratio",
        2.0,
        NOW,
        "coingecko",
        (("volume_usd", "31000000000"), ("mean_30d_usd", "15500000000"), ("days", "30")),
    )


def test_ratio_takes_the_30_most_recent_days_and_steps_over_a_missed_one() -> None:
    # 33 stored days with 2024-06-20 missing: the 30 newest are 4e9 each; three older at 1e12.
    stored = {before(n): 4.0e9 for n in range(1, 32) if n != 10}
    stored.update({before(32): 1.0e12, before(33): 1.0e12})
    outcome = volume_ratio(6.0e9, stored, NOW, "coingecko")
    assert isinstance(outcome, Sample)
    assert outcome.value == pytest.approx(1.5)


def test_ratio_collects_until_30_days_are_stored() -> None:
    stored = {before(n): 1.0e9 for n in range(1, 30)}
    stored[before(41)] = 1.0e9  # older than the 40-day look-back: does not count
    stored[TODAY] = 1.0e9
    assert volume_ratio(1.0e9, stored, NOW, "coingecko") == Stale(
        "alt_volume_ratio", "collecting: 29 of 30 days of volume"
    )
    assert volume_ratio(1.0e9, {}, NOW, "coingecko") == Stale(
        "alt_volume_ratio", "collecting: 0 of 30 days of volume"
    )


def test_a_zero_mean_is_stale_not_a_division_by_zero() -> None:
    stored = {before(n): 0.0 for n in range(1, 31)}
    outcome = volume_ratio(1.0e9, stored, NOW, "coingecko")
    assert outcome == Stale("alt_volume_ratio", "the 30-day mean volume is zero")


def test_seeding_needs_volumes_for_90_percent_of_the_market_cap() -> None:
    caps = {"big": 50.0, "mid": 40.0, "small": 10.0}
    d1, d2, d3, d4 = (date(2024, 6, d) for d in (1, 2, 3, 4))
    volumes = {
        "big": {d1: 5.0, d2: 5.0, d3: 5.0},
        "mid": {d1: 4.0, d2: 4.0},
        "small": {d1: 1.0, d3: 1.0, d4: 1.0},
        "bitcoin": {d1: 1000.0, d2: 1000.0, d3: 1000.0, d4: 1000.0},  # not in the universe
    }
    sums = seed_volumes(volumes, caps, [d1, d2, d3, d4])
    # d1: all three (100 %); d2: big + mid (exactly 90 %), summed as they are, not scaled up;
    # d3: big + small (60 %) and d4: small (10 %) are too thin to stand for the universe.
    assert sums == {d1: 10.0, d2: 9.0}


def test_seeding_from_one_coins_back_fill_writes_nothing() -> None:
    caps = {"big": 50.0, "mid": 40.0, "newcomer": 10.0}
    day = date(2024, 6, 1)
    assert seed_volumes({"newcomer": {day: 3.0}}, caps, [day]) == {}
    assert seed_volumes({"big": {day: 3.0}}, {}, [day]) == {}


def test_universe_volume_sums_known_volumes_and_reports_coverage() -> None:
    coins = [
        MarketCoin("a", "a", "A", 2, 1.0, 60.0, 3.0e8),
        MarketCoin("b", "b", "B", 3, 1.0, 30.0, 1.0e8),
        MarketCoin("c", "c", "C", 4, 1.0, 10.0, None),
    ]
    reading = universe_volume(coins)
    assert reading.total == 4.0e8
    assert reading.coverage == pytest.approx(0.9)
    assert reading.usable
    thin = universe_volume([*coins[:1], *coins[2:], MarketCoin("d", "d", "D", 5, 1.0, 30.0, None)])
    assert thin.coverage == pytest.approx(0.6)
    assert not thin.usable


def test_window_is_the_40_days_before_today() -> None:
    days = window(TODAY)
    assert days[0] == before(40) and days[-1] == before(1) and len(days) == 40
