"""MACD and RSI against hand-computed answers, plus properties that hold for any closes."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from signals.indicators import macd, rsi

NAN = float("nan")


def series(*values: float) -> pd.Series:
    return pd.Series(values, dtype="float64")


def test_rsi_3_by_hand_with_wilder_smoothing() -> None:
    # closes 10 11 13 12 15 14 14 16 -> changes +1 +2 -1 +3 -1 0 +2
    # first averages over changes 1-3: gain (1+2+0)/3 = 1, loss (0+0+1)/3 = 1/3
    #   RS 3 -> RSI 100 - 100/4 = 75
    # +3: gain (1*2+3)/3 = 5/3, loss (1/3*2+0)/3 = 2/9, RS 15/2 -> 100 - 100/8.5 = 1500/17
    # -1: gain (5/3*2+0)/3 = 10/9, loss (2/9*2+1)/3 = 13/27, RS 30/13 -> 100 - 1300/43 = 3000/43
    #  0: gain 20/27, loss 26/81, RS still 30/13 -> 3000/43 (a flat day shrinks both alike)
    # +2: gain (20/27*2+2)/3 = 94/81, loss (26/81*2)/3 = 52/243, RS 141/26 -> 14100/167
    got = rsi(series(10, 11, 13, 12, 15, 14, 14, 16), period=3)
    expected = [NAN, NAN, NAN, 75.0, 1500 / 17, 3000 / 43, 3000 / 43, 14100 / 167]
    assert got.tolist() == pytest.approx(expected, nan_ok=True, rel=1e-12)


def test_rsi_is_not_pandas_default_ewm() -> None:
    closes = series(10, 11, 13, 12, 15, 14, 14, 16)
    change = closes.diff()
    gain = change.clip(lower=0).ewm(span=3).mean()
    loss = (-change).clip(lower=0).ewm(span=3).mean()
    naive = 100 - 100 / (1 + gain / loss)
    # The EWM variant gives ~88.70 on the last day; Wilder's smoothing gives 14100/167 ~ 84.43.
    assert abs(naive.iloc[-1] - rsi(closes, period=3).iloc[-1]) > 1.0


def test_rsi_of_only_gains_is_100_and_of_only_losses_is_0() -> None:
    assert rsi(series(1, 2, 3, 5, 8, 13), period=3).tolist()[3:] == [100.0, 100.0, 100.0]
    assert rsi(series(13, 8, 5, 3, 2, 1), period=3).tolist()[3:] == [0.0, 0.0, 0.0]


def test_rsi_is_undefined_until_period_changes_exist() -> None:
    assert rsi(series(1, 2, 3), period=3).isna().all()
    four = rsi(series(1, 2, 3, 2), period=3)
    assert four.isna().tolist() == [True, True, True, False]


def test_rsi_keeps_the_index() -> None:
    days = pd.date_range("2024-01-01", periods=5, freq="D")
    closes = pd.Series([1.0, 2.0, 1.5, 1.8, 2.0], index=days)
    assert rsi(closes, period=2).index.equals(days)


def test_macd_3_6_3_by_hand() -> None:
    # closes 2 4 6 8 10 12 11 9 10; fast and signal alpha 2/4 = 1/2, slow alpha 2/7
    # fast EMA(3): seed at #2 = (2+4+6)/3 = 4; #3 = 4+(8-4)/2 = 6; #4 8; #5 10;
    #   #6 = 10+(11-10)/2 = 10.5; #7 = 10.5+(9-10.5)/2 = 9.75; #8 = 9.75+(10-9.75)/2 = 9.875
    # slow EMA(6): seed at #5 = (2+4+6+8+10+12)/6 = 7; #6 = 7+2/7*(11-7) = 57/7;
    #   #7 = 57/7+2/7*(9-57/7) = 411/49; #8 = 411/49+2/7*(10-411/49) = 3035/343
    # MACD: #5 = 10-7 = 3; #6 = 10.5-57/7 = 33/14; #7 = 9.75-411/49 = 267/196;
    #   #8 = 9.875-3035/343 = 2817/2744
    # signal EMA(3) of MACD: seed at #7 = (3+33/14+267/196)/3 = 439/196;
    #   #8 = 439/196+(2817/2744-439/196)/2 = 8963/5488
    # histogram: #7 = 267/196-439/196 = -43/49; #8 = 2817/2744-8963/5488 = -3329/5488
    got = macd(series(2, 4, 6, 8, 10, 12, 11, 9, 10), fast=3, slow=6, signal=3)
    assert list(got.columns) == ["macd", "signal", "histogram"]
    warm = [NAN] * 5
    assert got["macd"].tolist() == pytest.approx(
        [*warm, 3.0, 33 / 14, 267 / 196, 2817 / 2744], nan_ok=True, rel=1e-12
    )
    assert got["signal"].tolist() == pytest.approx(
        [*warm, NAN, NAN, 439 / 196, 8963 / 5488], nan_ok=True, rel=1e-12
    )
    assert got["histogram"].tolist() == pytest.approx(
        [*warm, NAN, NAN, -43 / 49, -3329 / 5488], nan_ok=True, rel=1e-12
    )


def test_macd_of_a_ramp_is_flat_from_its_first_value() -> None:
    # An SMA-seeded EMA(n) of a ramp with step s lags it by exactly (n-1)/2 steps from the seed on,
    # so MACD = (slow-fast)/2 * s throughout; pandas' adjust=True EWM would start elsewhere.
    ramp = pd.Series([100.0 + 2.0 * i for i in range(40)])
    got = macd(ramp).dropna()
    assert got.index[0] == 25 + 8  # slow + signal - 2
    assert got["macd"].tolist() == pytest.approx([(26 - 12) / 2 * 2.0] * len(got), rel=1e-12)
    assert got["histogram"].tolist() == pytest.approx([0.0] * len(got), abs=1e-9)


def test_macd_shorter_than_its_slow_period_is_all_nan() -> None:
    got = macd(series(*range(1, 26)))
    assert got.isna().all().all()
    assert len(got) == 25


@pytest.mark.parametrize(
    ("fast", "slow", "signal"), [(26, 12, 9), (12, 12, 9), (0, 26, 9), (12, 26, 0)]
)
def test_macd_rejects_impossible_periods(fast: int, slow: int, signal: int) -> None:
    with pytest.raises(ValueError, match="MACD needs"):
        macd(series(1, 2, 3), fast, slow, signal)


def test_indicators_refuse_gaps_in_the_closes() -> None:
    with pytest.raises(ValueError, match="NaN"):
        macd(series(1, NAN, 3))
    with pytest.raises(ValueError, match="NaN"):
        rsi(series(1, NAN, 3))


prices = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False)


@given(st.lists(prices, min_size=2, max_size=60), st.integers(min_value=1, max_value=20))
def test_rsi_stays_within_0_and_100(closes: list[float], period: int) -> None:
    values = rsi(pd.Series(closes), period).dropna()
    assert ((values >= 0.0) & (values <= 100.0)).all()


@given(prices, st.integers(min_value=34, max_value=80))
def test_macd_of_a_constant_series_is_zero(price: float, length: int) -> None:
    got = macd(pd.Series([price] * length))
    assert got["macd"].notna().sum() == length - 25
    assert got["histogram"].notna().sum() == length - 33
    # The SMA seed of n equal floats can be off by an ulp, hence a tolerance relative to price.
    assert (got.dropna().abs() <= 1e-12 * price).all().all()


@given(
    st.lists(st.integers(min_value=1, max_value=100_000), min_size=15, max_size=60),
    st.sampled_from([1e-3, 0.5, 3.0, 7.25, 1e4]),
)
def test_rsi_ignores_the_price_scale(closes: list[int], factor: float) -> None:
    # Integer closes keep every change distinct from zero after scaling, so gains stay gains.
    plain = rsi(pd.Series(closes, dtype="float64"))
    scaled = rsi(pd.Series(closes, dtype="float64") * factor)
    assert scaled.tolist() == pytest.approx(plain.tolist(), nan_ok=True, rel=1e-9, abs=1e-9)
    assert not math.isnan(plain.iloc[-1])
