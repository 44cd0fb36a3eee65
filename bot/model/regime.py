"""The risk-on regime: how many of the six rotation signals agree with the thesis right now.

The score is published as the metric `risk_on` (0-6) by `bot.watch.regime`, which reads the other
metrics' latest values from the store, so it costs no HTTP call. Each component is yes, no, or unknown
(no fresh value); unknown never counts towards the score. The sample's detail carries every
component as `<key>: <yes|no|unknown>; <reading>`, which `/status` shows ticked or not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from bot.model.metrics import MINUS, LatestValue, metric_info
from signals.specs.coingecko import MarketsMetric
from signals.specs.exchange import ExchangeMetric
from signals.specs.fred import FredMetric
from signals.specs.global_market import GlobalMetric
from signals.specs.regime import RegimeMetric
from signals.specs.yahoo import YahooMetric

METRIC = RegimeMetric.RISK_ON
SOURCE = "radar"
NEW_HIGH_SESSIONS = 5
ASI_LINE = 50.0
DOMINANCE_LINE = 59.0
# "Falling" compares with the value a week earlier; a day of history is the least that will do.
FALLING_OVER = timedelta(days=7)
FALLING_AT_LEAST = timedelta(days=1)
# Read a day past the week, so a gap in polling around that time still finds a point.
HISTORY_WINDOW = FALLING_OVER + timedelta(days=1)

Verdict = Literal["yes", "no", "unknown"]
# How every front-end ticks a component.
VERDICT_MARKS: dict[Verdict, str] = {"yes": "✅", "no": "❌", "unknown": "❔"}


@dataclass(frozen=True, slots=True)
class Component:
    """One signal of the regime, the metric it reads, and what it needs to agree."""

    key: str
    metric: str
    label: str


_RUT_HIGH = Component(
    "rut_high",
    YahooMetric.RUT_SESSIONS_SINCE_HIGH,
    f"Russell 2000 at a new high within {NEW_HIGH_SESSIONS} sessions",
)
_ASI = Component("asi", MarketsMetric.ASI, "Altcoin Season Index above 50")
_DOMINANCE = Component(
    "dominance", GlobalMetric.BTC_DOMINANCE, "Bitcoin dominance below 59% and falling"
)
_ETH_BTC = Component("eth_btc", ExchangeMetric.ETH_BTC_VS_SMA50, "ETH/BTC above its 50-day average")
_ALTBTC_MACD = Component(
    "altbtc_macd", MarketsMetric.ALTBTC_MACD, "Alt/BTC MACD histogram positive"
)
_LIQUIDITY = Component("liquidity", FredMetric.NET_LIQUIDITY_4W, "Net liquidity rising (4 weeks)")
COMPONENTS: tuple[Component, ...] = (
    _RUT_HIGH,
    _ASI,
    _DOMINANCE,
    _ETH_BTC,
    _ALTBTC_MACD,
    _LIQUIDITY,
)
# The metrics the score reads; the catalogue's `risk_on` entry declares the same (checked at start).
READS: tuple[str, ...] = tuple(c.metric for c in COMPONENTS)
# Dominance "falling" compares with its value a week earlier, read from the store.
DOMINANCE = _DOMINANCE.metric
_LABELS = {c.key: c.label for c in COMPONENTS}


@dataclass(frozen=True, slots=True)
class Reading:
    """A component's verdict now, and the figure behind it."""

    key: str
    label: str
    verdict: Verdict
    note: str

    @property
    def agrees(self) -> bool:
        return self.verdict == "yes"


@dataclass(frozen=True, slots=True)
class Regime:
    """The score and the component readings behind it."""

    score: int
    readings: tuple[Reading, ...]

    @property
    def known(self) -> int:
        return sum(r.verdict != "unknown" for r in self.readings)


def _fresh(latest: Mapping[str, LatestValue], metric: str, now: datetime) -> float | None:
    value = latest.get(metric)
    if value is None or value.value is None or value.at is None or value.stale_reason:
        return None
    if now - value.at > metric_info(metric).max_age:
        return None
    return value.value


def _why_unknown(latest: Mapping[str, LatestValue], metric: str) -> str:
    """Return why a component's metric has no fresh value, for its note."""
    value = latest.get(metric)
    if value is not None and value.stale_reason:
        return f"unknown: {value.stale_reason}"
    if value is None or value.value is None:
        return "unknown: no value yet"
    return "unknown: no fresh value"


def _reading(
    key: str,
    value: float | None,
    agrees: Callable[[float], bool],
    note: Callable[[float], str],
    why: str = "unknown: no fresh value",
) -> Reading:
    if value is None:
        return Reading(key, _LABELS[key], "unknown", why)
    return Reading(key, _LABELS[key], "yes" if agrees(value) else "no", note(value))


def _signed(value: float, shown: str) -> str:
    """Return `shown` (the size of `value`, formatted) with the sign of `value`: `+$84.2B`."""
    return f"{MINUS if value < 0 else '+'}{shown}"


def _since_high(sessions: float) -> str:
    return "closed at its high" if sessions == 0 else f"high {sessions:.0f} sessions ago"


def assess(
    latest: Mapping[str, LatestValue],
    dominance_before: tuple[datetime, float] | None,
    now: datetime,
) -> Regime:
    """Return the regime from the metrics' latest values and dominance's earlier value."""

    def fresh(metric: str) -> float | None:
        return _fresh(latest, metric, now)

    def why(component: Component) -> str:
        return _why_unknown(latest, component.metric)

    readings = (
        _reading(
            _RUT_HIGH.key,
            fresh(_RUT_HIGH.metric),
            lambda v: v < NEW_HIGH_SESSIONS,
            _since_high,
            why(_RUT_HIGH),
        ),
        _reading(
            _ASI.key,
            fresh(_ASI.metric),
            lambda v: v > ASI_LINE,
            lambda v: f"ASI {v:.0f}",
            why(_ASI),
        ),
        _dominance(fresh(_DOMINANCE.metric), dominance_before, now, why(_DOMINANCE)),
        _reading(
            _ETH_BTC.key,
            fresh(_ETH_BTC.metric),
            lambda v: v > 0,
            lambda v: f"{_signed(v, f'{abs(v):.2f}')}% vs its 50-day average",
            why(_ETH_BTC),
        ),
        _reading(
            _ALTBTC_MACD.key,
            fresh(_ALTBTC_MACD.metric),
            lambda v: v > 0,
            lambda v: f"histogram {_signed(v, f'{abs(v):.5f}')}",
            why(_ALTBTC_MACD),
        ),
        _reading(
            _LIQUIDITY.key,
            fresh(_LIQUIDITY.metric),
            lambda v: v > 0,
            lambda v: f"{_signed(v, metric_info(_LIQUIDITY.metric).format(abs(v)))} over 4 weeks",
            why(_LIQUIDITY),
        ),
    )
    return Regime(sum(r.agrees for r in readings), readings)


def _dominance(
    now_value: float | None,
    before: tuple[datetime, float] | None,
    now: datetime,
    why: str = "unknown: no fresh value",
) -> Reading:
    key = _DOMINANCE.key
    if now_value is None:
        return Reading(key, _LABELS[key], "unknown", why)
    if now_value >= DOMINANCE_LINE:
        return Reading(key, _LABELS[key], "no", f"{now_value:.2f}% (not below 59%)")
    if before is None or now - before[0] < FALLING_AT_LEAST:
        return Reading(key, _LABELS[key], "unknown", f"{now_value:.2f}%; trend needs a day of data")
    at, earlier = before
    days = (now - at) / timedelta(days=1)
    change = now_value - earlier
    note = f"{now_value:.2f}%, {_signed(change, f'{abs(change):.2f}')} pp over {days:.0f} d"
    return Reading(key, _LABELS[key], "yes" if change < 0 else "no", note)


def to_detail(regime: Regime) -> tuple[tuple[str, str], ...]:
    """Encode the readings as sample detail pairs, in component order."""
    return tuple((r.key, f"{r.verdict}; {r.note}") for r in regime.readings)


def component_label(key: str) -> str:
    """Return a component's label; an unknown key (from a newer version) is its own label."""
    return _LABELS.get(key, key)


def from_detail(detail: Sequence[tuple[str, str]]) -> tuple[Reading, ...]:
    """Decode the readings from a `risk_on` sample's detail; unknown keys are ignored."""
    readings = []
    for key, text in detail:
        if key not in _LABELS:
            continue
        verdict, _, note = text.partition("; ")
        if verdict not in ("yes", "no", "unknown"):
            verdict = "unknown"
        readings.append(Reading(key, _LABELS[key], verdict, note))  # type: ignore[arg-type]
    return tuple(readings)


def settled(detail: Sequence[tuple[str, str]]) -> bool:
    """Return True when a `risk_on` sample's detail has no unknown component."""
    return all(r.verdict != "unknown" for r in from_detail(detail))


def bounds(score: float, detail: Sequence[tuple[str, str]]) -> tuple[float, float] | None:
    """Return where a `risk_on` score with unknown components may lie, None when all are known."""
    unknown = sum(r.verdict == "unknown" for r in from_detail(detail))
    return (score, score + unknown) if unknown else None
