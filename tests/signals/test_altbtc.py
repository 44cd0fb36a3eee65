"""The alt/BTC index against hand-computed answers, and the readings taken from it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from signals.altbtc import (
    MACD_METRIC,
    RSI_METRIC,
    altbtc_index,
    altbtc_samples,
    universe_weights,
)
from signals.asi import load_exclusions, select_universe
from signals.indicators import macd, rsi
from signals.types import Sample, Stale
from tests.signals import scenario

D0 = date(2024, 5, 1)


def days(*offsets: int) -> list[date]:
    return [D0 + timedelta(days=n) for n in offsets]


def on(offsets: tuple[int, ...], values: tuple[float, ...]) -> dict[date, float]:
    return dict(zip(days(*offsets), values, strict=True))


def test_three_coin_index_by_hand() -> None:
    # BTC 100 100 200 200; alt-a 10 11 22 20; alt-b 50 50 150 100; caps 3:1 -> weights 3/4, 1/4
    # in BTC: alt-a 0.1 0.11 0.11 0.10 (day moves 1.1, 1, 10/11); alt-b 0.5 0.5 0.75 0.5 (1, 1.5, 2/3)
    # day 1: 3/4*1.1 + 1/4*1 = 1.075            -> 107.5
    # day 2: 3/4*1 + 1/4*1.5 = 1.125             -> 107.5*1.125 = 120.9375
    # day 3: 3/4*10/11 + 1/4*2/3 = 28/33         -> 120.9375*28/33 = 4515/44
    closes = {
        "bitcoin": on((0, 1, 2, 3), (100, 100, 200, 200)),
        "alt-a": on((0, 1, 2, 3), (10, 11, 22, 20)),
        "alt-b": on((0, 1, 2, 3), (50, 50, 150, 100)),
        "not-in-universe": on((0, 1, 2, 3), (1, 9, 1, 9)),
    }
    index = altbtc_index(closes, {"alt-a": 3e9, "alt-b": 1e9, "bitcoin": 9e9})
    assert index.index.equals(pd.DatetimeIndex(days(0, 1, 2, 3)))
    assert index.tolist() == pytest.approx([100.0, 107.5, 120.9375, 4515 / 44], rel=1e-12)


def test_day_without_bitcoin_is_skipped_and_linked_across() -> None:
    # BTC has no close on day 1, so day 1 goes; day 2 links to day 0:
    # alt-a 0.1 -> 15/125 = 0.12 (x1.2), alt-b 0.2 -> 25/125 = 0.2 (x1); weights 1:3
    # day 2: (1*1.2 + 3*1)/4 = 1.05 -> 105
    closes = {
        "bitcoin": on((0, 2), (100, 125)),
        "alt-a": on((0, 1, 2), (10, 99, 15)),
        "alt-b": on((0, 1, 2), (20, 1, 25)),
    }
    index = altbtc_index(closes, {"alt-a": 1.0, "alt-b": 3.0})
    assert index.index.equals(pd.DatetimeIndex(days(0, 2)))
    assert index.tolist() == pytest.approx([100.0, 105.0], rel=1e-12)


def test_alt_with_a_gap_sits_out_and_its_move_counts_on_return() -> None:
    # BTC 100 throughout; alt-a 0.1 0.11 0.121 (x1.1 each day); alt-b 0.5, gap, 0.75; weights 1:1
    # day 1: only alt-a, its weight renormalised to 1: x1.1 -> 110
    # day 2: alt-a x1.1, alt-b 0.75/0.5 = x1.5 since its last close: (1.1+1.5)/2 = 1.3 -> 143
    # (dropping alt-b's move instead would give 110*1.1 = 121)
    closes = {
        "bitcoin": on((0, 1, 2), (100, 100, 100)),
        "alt-a": on((0, 1, 2), (10, 11, 12.1)),
        "alt-b": on((0, 2), (50, 75)),
    }
    index = altbtc_index(closes, {"alt-a": 5.0, "alt-b": 5.0})
    assert index.tolist() == pytest.approx([100.0, 110.0, 143.0], rel=1e-12)


def test_alt_listed_mid_window_enters_without_moving_the_level() -> None:
    # BTC 10; alt-a 1 2 2 (x2, x1); alt-c listed on day 1 at 3, then 6 (x2)
    # day 1: alt-c has no earlier close, only alt-a counts: x2 -> 200
    # day 2: (1 + 2)/2 = 1.5 -> 300
    closes = {
        "bitcoin": on((0, 1, 2), (10, 10, 10)),
        "alt-a": on((0, 1, 2), (1, 2, 2)),
        "alt-c": on((1, 2), (3, 6)),
    }
    index = altbtc_index(closes, {"alt-a": 1.0, "alt-c": 1.0})
    assert index.tolist() == pytest.approx([100.0, 200.0, 300.0], rel=1e-12)


def test_index_starts_on_the_first_day_bitcoin_and_an_alt_share() -> None:
    closes = {
        "bitcoin": on((0, 1, 2), (10, 10, 10)),
        "alt-a": on((1, 2), (1, 1.5)),
        "alt-b": on((2, 3), (4, 8)),  # day 3 has no BTC close
    }
    index = altbtc_index(closes, {"alt-a": 1.0, "alt-b": 1.0})
    assert index.index.equals(pd.DatetimeIndex(days(1, 2)))
    assert index.tolist() == pytest.approx([100.0, 150.0], rel=1e-12)


def test_non_positive_close_counts_as_missing() -> None:
    # alt-b's 0 on day 1 is a bad print: it sits out day 1 and links 0.5 -> 0.6 (x1.2) on day 2
    # day 1: alt-a x1 -> 100; day 2: (1 + 1.2)/2 = 1.1 -> 110
    closes = {
        "bitcoin": on((0, 1, 2), (100, 100, 100)),
        "alt-a": on((0, 1, 2), (1, 1, 1)),
        "alt-b": on((0, 1, 2), (50, 0, 60)),
    }
    index = altbtc_index(closes, {"alt-a": 1.0, "alt-b": 1.0})
    assert index.tolist() == pytest.approx([100.0, 100.0, 110.0], rel=1e-12)


@pytest.mark.parametrize(
    ("closes", "weights"),
    [
        ({"alt-a": on((0, 1), (1, 2))}, {"alt-a": 1.0}),
        ({"bitcoin": on((0, 1), (1, 2))}, {"alt-a": 1.0}),
        ({"bitcoin": on((0, 1), (1, 2)), "alt-a": on((0, 1), (1, 2))}, {"alt-a": 0.0}),
        ({"bitcoin": on((0,), (1,)), "alt-a": on((1,), (1,))}, {"alt-a": 1.0}),
    ],
    ids=["no-bitcoin", "no-alt-closes", "no-positive-weight", "no-common-day"],
)
def test_index_is_empty_without_a_common_day(
    closes: dict[str, dict[date, float]], weights: dict[str, float]
) -> None:
    index = altbtc_index(closes, weights)
    assert index.empty
    assert altbtc_signals(index) == (None, None)


def test_universe_weights_are_the_asi_universe_caps() -> None:
    coins = scenario.coins()
    weights = universe_weights(select_universe(coins, load_exclusions(), scenario.CATEGORY_MEMBERS))
    assert list(weights) == [scenario.alt(i) for i in range(1, 51)]
    caps = {coin.id: coin.market_cap for coin in coins}
    assert all(weights[coin] == caps[coin] for coin in weights)


def altbtc_signals(index: pd.Series) -> tuple[float | None, float | None]:
    """Return the newest histogram and RSI the source would publish, None while warming up."""
    readings = altbtc_samples(index, "test")

    def newest(metric: str) -> float | None:
        outcome = readings[metric]
        return None if isinstance(outcome, Stale) else outcome[-1].value

    return newest(MACD_METRIC), newest(RSI_METRIC)


DAY_ONE = datetime(2024, 1, 1, tzinfo=UTC)


def daily(values: list[float]) -> pd.Series:
    return pd.Series(values, index=pd.date_range("2024-01-01", periods=len(values), freq="D"))


def test_signals_wait_for_enough_history() -> None:
    # MACD(12, 26, 9) needs 26 + 9 - 1 = 34 closes, RSI(14) needs 15.
    assert altbtc_signals(daily([100.0 + i for i in range(14)])) == (None, None)
    hist, strength = altbtc_signals(daily([100.0 + i for i in range(15)]))
    assert hist is None
    assert strength == 100.0
    hist, _ = altbtc_signals(daily([100.0 + i for i in range(33)]))
    assert hist is None
    hist, _ = altbtc_signals(daily([100.0 + i for i in range(34)]))
    assert hist == pytest.approx(0.0, abs=1e-9)  # a ramp's MACD equals its signal line


def test_signals_turn_down_with_the_index() -> None:
    rising = [100.0 + i for i in range(40)]
    falling = [rising[-1] - 2.0 * i for i in range(1, 11)]
    hist, strength = altbtc_signals(daily(rising + falling))
    assert hist is not None
    assert hist < 0
    assert strength is not None
    assert strength < 50


def test_samples_are_stamped_at_midnight_of_each_day_with_a_reading() -> None:
    index = daily([100.0 + i for i in range(30)] + [129.0 - 3.0 * i for i in range(1, 11)])
    readings = altbtc_samples(index, "coingecko")
    hist = macd(index)["histogram"]
    strength = rsi(index)
    points = readings["altbtc_macd"]
    assert isinstance(points, tuple)
    # 40 days: MACD from day 34 on (7 readings), RSI from day 15 on (26 readings).
    assert len(points) == 7
    assert points[0].at == datetime(2024, 2, 3, tzinfo=UTC)
    assert points[-1].at == datetime(2024, 2, 9, tzinfo=UTC)
    assert [p.value for p in points] == hist.dropna().tolist()
    assert all(p.source == "coingecko" and p.metric == "altbtc_macd" for p in points)
    assert dict(points[-1].detail)["index"] == "99.0000"  # 129 - 3 * 10
    rsi_points = readings["altbtc_rsi"]
    assert isinstance(rsi_points, tuple)
    assert len(rsi_points) == 26
    assert rsi_points[0].at == datetime(2024, 1, 15, tzinfo=UTC)
    assert [p.value for p in rsi_points] == strength.dropna().tolist()


def test_the_index_level_is_published_from_its_first_day() -> None:
    readings = altbtc_samples(daily([100.0, 101.5]), "coingecko")
    assert readings["altbtc_index"] == (
        Sample("altbtc_index", 100.0, datetime(2024, 1, 1, tzinfo=UTC), "coingecko"),
        Sample("altbtc_index", 101.5, datetime(2024, 1, 2, tzinfo=UTC), "coingecko"),
    )
    empty = pd.Series(dtype="float64", index=pd.DatetimeIndex([]))
    assert altbtc_samples(empty, "coingecko")["altbtc_index"] == Stale(
        "altbtc_index", "warming up: 0 of 1 days of alt/BTC history"
    )


def test_samples_warm_up_with_the_days_counted() -> None:
    assert altbtc_samples(daily([100.0] * 14), "coingecko") == {
        "altbtc_macd": Stale("altbtc_macd", "warming up: 14 of 34 days of alt/BTC history"),
        "altbtc_rsi": Stale("altbtc_rsi", "warming up: 14 of 15 days of alt/BTC history"),
        "altbtc_index": tuple(
            Sample("altbtc_index", 100.0, DAY_ONE + timedelta(days=k), "coingecko")
            for k in range(14)
        ),
    }
    readings = altbtc_samples(daily([100.0] * 33), "coingecko")
    assert readings["altbtc_macd"] == Stale(
        "altbtc_macd", "warming up: 33 of 34 days of alt/BTC history"
    )
    assert isinstance(readings["altbtc_rsi"], tuple)
    readings = altbtc_samples(daily([100.0] * 34), "coingecko")
    assert isinstance(readings["altbtc_macd"], tuple)
    assert len(readings["altbtc_macd"]) == 1
