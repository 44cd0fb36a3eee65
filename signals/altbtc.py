"""An alt/BTC index from the daily closes the ASI stores, and its MACD and RSI readings.

Universe: the ASI's (`signals.asi.select_universe`): the 50 largest coins by market cap that are
neither Bitcoin nor excluded. Each alt is priced in BTC, its USD close over Bitcoin's USD close.

Weighting: today's market caps, held fixed over the whole window (historical caps are not
stored). The index is chain-linked: with w_i the caps and r_i(t) = btc_price_i(t) /
btc_price_i(p), where p is the alt's latest earlier day in the index,
    index(t) = index(t_prev) * sum(w_i * r_i(t)) / sum(w_i)
over the alts that have a close on t and one before it, so weights are renormalised over the
alts present that day. It starts at 100 on the first common day (the first day with Bitcoin's
close and at least one alt's). Chain-linking means a gap or a coin listed mid-window changes no
level by itself: a missing alt sits out that day, and when it returns its move since its last
close counts in full. Days without Bitcoin's close, or without any alt's, are skipped. A close
that is not positive counts as missing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime

import pandas as pd

from signals.asi import BITCOIN, closes_frame
from signals.indicators import MACD_SIGNAL, MACD_SLOW, RSI_PERIOD, macd, rsi
from signals.market import MarketCoin
from signals.specs.coingecko import MarketsMetric
from signals.types import Sample, Stale

BASE_LEVEL = 100.0
MACD_METRIC = MarketsMetric.ALTBTC_MACD
RSI_METRIC = MarketsMetric.ALTBTC_RSI
INDEX_METRIC = MarketsMetric.ALTBTC_INDEX
# Index days before each reading's first value: the MACD signal line, and RSI's first change.
MACD_DAYS = MACD_SLOW + MACD_SIGNAL - 1
RSI_DAYS = RSI_PERIOD + 1


def universe_weights(universe: Iterable[MarketCoin]) -> dict[str, float]:
    """Return the selected universe's coins mapped to their current market caps, in its order."""
    return {coin.id: coin.market_cap for coin in universe}


def altbtc_index(
    closes: Mapping[str, Mapping[date, float]],
    weights: Mapping[str, float],
    btc_id: str = BITCOIN,
) -> pd.Series:
    """Return the cap-weighted, chain-linked alt/BTC index by day (ascending), starting at 100.

    `closes` holds USD daily closes per coin id; `weights` the alts' market caps. Alts without a
    positive weight or without closes are left out; an empty series means no common day.
    """
    caps = {coin: cap for coin, cap in weights.items() if coin != btc_id and cap > 0}
    alts = [coin for coin in caps if closes.get(coin)]
    btc_closes = closes.get(btc_id)
    if not alts or not btc_closes:
        return pd.Series(dtype="float64", index=pd.DatetimeIndex([]), name="altbtc")
    frame = closes_frame({btc_id: btc_closes, **{coin: closes[coin] for coin in alts}})
    usable = frame.where(frame > 0)
    priced = usable[alts].div(usable[btc_id], axis=0)
    priced = priced.loc[priced.notna().any(axis=1)]
    if priced.empty:
        return pd.Series(dtype="float64", index=pd.DatetimeIndex([]), name="altbtc")
    # Carrying each alt's last BTC price forward links across its gaps instead of dropping them.
    relative = priced / priced.ffill().shift(1)
    w = pd.Series(caps, dtype="float64")[alts]
    linked = relative.notna()
    total = linked.mul(w, axis=1).sum(axis=1)
    moved = relative.fillna(0.0).mul(w, axis=1).sum(axis=1)
    # A day where no alt has an earlier close (the first, or only new listings) leaves the level.
    step = (moved / total).where(total > 0, 1.0)
    return (BASE_LEVEL * step.cumprod()).rename("altbtc")


def altbtc_samples(index: pd.Series, source: str) -> dict[str, tuple[Sample, ...] | Stale]:
    """Return each reading's daily samples (oldest first), or a warm-up notice while too short.

    Keyed by metric: `altbtc_macd` (histogram), `altbtc_rsi` and `altbtc_index` (the level, kept
    as history so a backtest can tell what the index did after a rule fired); each sample is
    stamped 00:00 UTC of its day and the readings carry the index level in their detail.
    """
    lines = macd(index)
    strength = rsi(index, RSI_PERIOD)
    days = [_midnight(stamp) for stamp in pd.DatetimeIndex(index.index)]
    levels = index.to_list()
    macd_points = tuple(
        Sample(
            MACD_METRIC,
            float(hist),
            at,
            source,
            (("macd", f"{line:.6g}"), ("signal", f"{trigger:.6g}"), ("index", f"{level:.4f}")),
        )
        for at, hist, line, trigger, level in zip(
            days,
            lines["histogram"].to_list(),
            lines["macd"].to_list(),
            lines["signal"].to_list(),
            levels,
            strict=True,
        )
        if not pd.isna(hist)
    )
    rsi_points = tuple(
        Sample(RSI_METRIC, float(value), at, source, (("index", f"{level:.4f}"),))
        for at, value, level in zip(days, strength.to_list(), levels, strict=True)
        if not pd.isna(value)
    )
    index_points = tuple(
        Sample(INDEX_METRIC, float(level), at, source)
        for at, level in zip(days, levels, strict=True)
    )
    return {
        MACD_METRIC: macd_points or _warming_up(MACD_METRIC, len(index), MACD_DAYS),
        RSI_METRIC: rsi_points or _warming_up(RSI_METRIC, len(index), RSI_DAYS),
        INDEX_METRIC: index_points or _warming_up(INDEX_METRIC, 0, 1),
    }


def _warming_up(metric: str, have: int, need: int) -> Stale:
    return Stale(metric, f"warming up: {have} of {need} days of alt/BTC history")


def _midnight(stamp: pd.Timestamp) -> datetime:
    day = stamp.date()
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
