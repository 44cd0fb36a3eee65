"""MACD and RSI as pure functions over a series of closes, computed the way TradingView does.

EMA: alpha = 2/(n+1), seeded with the simple mean of the first n values (TradingView's `ta.ema`),
not pandas' default `ewm(adjust=True)`, whose early values weight the whole history differently.

RSI: Wilder's smoothing (TradingView's `ta.rma`). With g and l a change's gain and loss (both >= 0),
the first average gain and loss are the simple means over the first `period` changes, then
avg = (prev * (period - 1) + current) / period, and RSI = 100 - 100 / (1 + avg_gain / avg_loss).
No losses in the window gives 100 (also for a flat series, as TradingView does); no gains gives 0.

Warm-up: a value needs enough history, and is NaN until then. With n closes indexed from 0:
- EMA(n) is first defined at position n - 1;
- the MACD line at position slow - 1, the signal line and histogram at slow + signal - 2;
- RSI(period) at position period (it needs `period` changes, so period + 1 closes).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MACD_FAST = 12
MACD_SLOW = 26
MACD_SIGNAL = 9
RSI_PERIOD = 14


def macd(
    close: pd.Series,
    fast: int = MACD_FAST,
    slow: int = MACD_SLOW,
    signal: int = MACD_SIGNAL,
) -> pd.DataFrame:
    """Return the MACD line, its signal line and their difference, indexed like `close`."""
    if not 1 <= fast < slow or signal < 1:
        raise ValueError(
            f"MACD needs 1 <= fast < slow and signal >= 1, got ({fast}, {slow}, {signal})"
        )
    values = _checked(close)
    line = _ema(values, fast) - _ema(values, slow)
    # The signal EMA starts where the MACD line does, so its SMA seed covers defined values only.
    start = slow - 1
    trigger = np.full(len(values), np.nan)
    trigger[start:] = _ema(line[start:], signal)
    return pd.DataFrame(
        {"macd": line, "signal": trigger, "histogram": line - trigger},
        index=close.index,
    )


def rsi(close: pd.Series, period: int = RSI_PERIOD) -> pd.Series:
    """Return Wilder's relative strength index (0-100) of `close`, indexed like it."""
    if period < 1:
        raise ValueError(f"RSI needs period >= 1, got {period}")
    values = _checked(close)
    out = np.full(len(values), np.nan)
    if len(values) <= period:
        return pd.Series(out, index=close.index, dtype="float64")
    change = np.diff(values)
    gains = np.clip(change, 0.0, None)
    losses = np.clip(-change, 0.0, None)
    avg_gain = float(gains[:period].mean())
    avg_loss = float(losses[:period].mean())
    out[period] = _strength(avg_gain, avg_loss)
    for i in range(period, len(change)):
        avg_gain = (avg_gain * (period - 1) + gains[i]) / period
        avg_loss = (avg_loss * (period - 1) + losses[i]) / period
        out[i + 1] = _strength(avg_gain, avg_loss)
    return pd.Series(out, index=close.index, dtype="float64")


def _checked(close: pd.Series) -> np.ndarray:
    values = close.to_numpy(dtype="float64")
    # A gap would poison every later EMA step; the caller must drop or fill it deliberately.
    if np.isnan(values).any():
        raise ValueError("closes must not contain NaN")
    return values


def _ema(values: np.ndarray, span: int) -> np.ndarray:
    out = np.full(len(values), np.nan)
    if len(values) < span:
        return out
    alpha = 2.0 / (span + 1)
    level = float(values[:span].mean())
    out[span - 1] = level
    for i in range(span, len(values)):
        level = alpha * values[i] + (1.0 - alpha) * level
        out[i] = level
    return out


def _strength(avg_gain: float, avg_loss: float) -> float:
    if avg_loss == 0.0:
        return 100.0
    if avg_gain == 0.0:
        return 0.0
    return 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)
