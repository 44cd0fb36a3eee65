"""The Altcoin Season Index as pure functions, against hand-computed answers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from signals.asi import (
    altcoin_season,
    asi_history,
    closes_frame,
    load_exclusions,
    publish,
    reference_closes,
    reference_day,
    select_universe,
)
from signals.types import Sample, Stale
from tests.signals import scenario


def closes_for(coin_ids: list[str], days: int = 120, end: date = date(2024, 6, 29)) -> pd.DataFrame:
    return closes_frame(
        {
            coin: {end - timedelta(days=n): scenario.REFERENCE_PRICE for n in range(days)}
            for coin in coin_ids
        }
    )


def test_reference_day_is_the_last_close_completed_90_days_ago() -> None:
    # 90 days before 2024-06-30 12:00 is 2024-04-01 12:00; the close of 03-31 completed at 00:00.
    assert reference_day(scenario.NOW) == scenario.REFERENCE_DAY
    assert reference_day(datetime(2024, 6, 30, 0, 0, tzinfo=UTC)) == date(2024, 3, 31)


def test_packaged_exclusions_give_a_reason_for_every_rule() -> None:
    rules = load_exclusions()
    assert "stablecoins" in rules.categories
    assert rules.coins["tether"] == "USD stablecoin (USDT)"
    assert all(reason.strip() for reason in rules.coins.values())
    assert all(reason.strip() for _, reason in rules.name_patterns)


def test_universe_drops_bitcoin_excluded_coins_and_keeps_the_top_50() -> None:
    universe = select_universe(scenario.coins(), load_exclusions(), scenario.CATEGORY_MEMBERS)
    assert [coin.id for coin in universe] == [scenario.alt(i) for i in range(1, 51)]


def test_category_rule_is_what_catches_a_new_stablecoin() -> None:
    universe = select_universe(scenario.coins(), load_exclusions(), frozenset())
    ids = [coin.id for coin in universe]
    assert "new-dollar" in ids
    assert "mega-lst" in ids
    assert "bridged-thing" not in ids  # the name rule still holds


def test_index_over_a_universe_with_stablecoins_wrapped_and_staked_tokens_inside() -> None:
    coins = scenario.coins()
    universe = [c.id for c in select_universe(coins, load_exclusions(), scenario.CATEGORY_MEMBERS)]
    frame = closes_for([c.id for c in coins])
    references = reference_closes(frame, scenario.REFERENCE_DAY)
    reading = altcoin_season({c.id: c.price for c in coins}, references, universe)
    outcome = publish(reading, scenario.NOW, "coingecko", {c.id: c.symbol for c in coins})
    assert isinstance(outcome, Sample)
    assert outcome.value == scenario.EXPECTED_ASI
    assert outcome.source == "coingecko"
    detail = dict(outcome.detail)
    assert detail["bitcoin_90d"] == "+10.00%"
    assert detail["counted"] == "50 of 50"
    assert detail["beat_bitcoin"] == "20"
    assert outcome.detail[3] == ("ALT20", "+70.00%")  # best first
    assert outcome.detail[-1] == ("ALT01", "+51.00%")
    assert "ALT21" not in detail  # equal to Bitcoin is not beating it


def _reading_with_history(have: int) -> Sample | Stale:
    coins = scenario.coins()
    universe = [scenario.alt(i) for i in range(1, 51)]
    # The last 50 - have coins of the universe have no stored history at all.
    with_history = ["bitcoin", *universe[:have]]
    references = reference_closes(closes_for(with_history), scenario.REFERENCE_DAY)
    reading = altcoin_season({c.id: c.price for c in coins}, references, universe)
    return publish(reading, scenario.NOW, "coingecko", {})


def test_45_coins_with_history_publish() -> None:
    # alt01-alt20 beat Bitcoin; 45 coins counted.
    outcome = _reading_with_history(45)
    assert isinstance(outcome, Sample)
    assert outcome.value == pytest.approx(100 * 20 / 45)
    assert dict(outcome.detail)["counted"] == "45 of 50"


def test_44_coins_with_history_are_stale_with_the_reason() -> None:
    assert _reading_with_history(44) == Stale(
        "asi", "only 44 of 50 coins have 90 days of history (45 needed)"
    )


def test_bitcoin_without_a_reference_is_stale() -> None:
    coins = scenario.coins()
    universe = [scenario.alt(i) for i in range(1, 51)]
    references = reference_closes(closes_for(universe), scenario.REFERENCE_DAY)
    reading = altcoin_season({c.id: c.price for c in coins}, references, universe)
    assert publish(reading, scenario.NOW, "coingecko", {}) == Stale(
        "asi", "bitcoin has no close from 90 days ago yet"
    )


def test_reference_falls_back_at_most_three_days_and_skips_bad_closes() -> None:
    day = scenario.REFERENCE_DAY
    frame = closes_frame(
        {
            "exact": {day: 10.0, day - timedelta(days=1): 9.0},
            "two_back": {day - timedelta(days=2): 8.0, day + timedelta(days=1): 99.0},
            "four_back": {day - timedelta(days=4): 7.0},
            "zero": {day: 0.0},
        }
    )
    refs = reference_closes(frame, day)
    assert refs["exact"] == 10.0
    assert refs["two_back"] == 8.0
    assert pd.isna(refs["four_back"])
    assert pd.isna(refs["zero"])


def test_no_history_at_all_gives_missing_references() -> None:
    refs = reference_closes(closes_frame({}), scenario.REFERENCE_DAY)
    assert refs.empty


def test_the_asi_history_counts_each_day_against_its_own_90_days() -> None:
    # Bitcoin flat at 100; alt0 doubles over the window, alt1 halves, alt2 stays; each day t
    # from 0 to 119 closes at a price that moves linearly, so day D's 90-day change is known.
    start = date(2025, 1, 1)
    days = [start + timedelta(days=t) for t in range(120)]
    closes = {
        "bitcoin": dict.fromkeys(days, 100.0),
        "alt0": {d: 100.0 + t for t, d in enumerate(days)},  # rising: beats flat bitcoin
        "alt1": {d: 200.0 - t for t, d in enumerate(days)},  # falling: does not
        "alt2": dict.fromkeys(days, 100.0),  # equal to bitcoin: does not beat it
    }
    history = asi_history(
        closes, ["alt0", "alt1", "alt2"], start, days[-1], "coingecko", min_history=3
    )
    # Only days with a close 90 days earlier: 1 Apr 2025 (day 90) onwards, 30 of them.
    assert len(history) == 30
    assert history[0].at == datetime(2025, 4, 2, tzinfo=UTC)  # day 90's close, at midnight
    assert all(s.value == pytest.approx(100 / 3) for s in history)
    # A coin missing on a day is not counted; too few coins and the day is left out.
    del closes["alt2"][days[100]], closes["alt1"][days[100]]
    thinner = asi_history(closes, ["alt0", "alt1", "alt2"], start, days[-1], "x", min_history=2)
    assert [s.at for s in thinner].count(datetime(2025, 4, 12, tzinfo=UTC)) == 0
    assert len(thinner) == 29
