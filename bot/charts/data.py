"""Read what a chart shows from the store: the series, its rules' levels and events, the regime."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta

from bot.charts.spec import ChartSpec, ComponentStrip, Marker, Point, StripRow, Threshold
from bot.model.alerts import direction_of
from bot.model.backtest import Backtest
from bot.model.formatting import format_condition
from bot.model.metrics import metric_info
from bot.model.regime import COMPONENTS, Verdict, from_detail
from bot.model.regime import METRIC as REGIME_METRIC
from bot.model.rules import Rule
from bot.storage import Store
from bot.storage.metrics import Bucket, StoredPoint

# Row labels of the regime strip: the components' own labels are sentences, too long for a row.
STRIP_LABELS = {
    "rut_high": "RUT at new high",
    "asi": "ASI > 50",
    "dominance": "BTC dom. < 59% ↓",
    "eth_btc": "ETH/BTC > 50d avg",
    "altbtc_macd": "Alt/BTC MACD > 0",
    "liquidity": "Liquidity rising",
}
# The regime is the bot's own arithmetic over other feeds, not a provider's figure.
_PROVIDER_NAMES = {"radar": "Risk-On Radar, from its feeds"}


def bucket_for(span: timedelta) -> Bucket:
    """Return how finely to read a span: every sample for days, hourly for weeks, else daily."""
    if span <= timedelta(days=3):
        return "sample"
    if span <= timedelta(days=45):
        return "hour"
    return "day"


def _day(at: datetime) -> str:
    return f"{at.day} {at:%b %Y}"


def _period(start: datetime, end: datetime, bucket: Bucket) -> str:
    if end - start > timedelta(days=2):
        shown = f"{_day(start)} – {_day(end)}"
    else:
        shown = f"{_day(start)} {start:%H:%M} – {_day(end)} {end:%H:%M}"
    what = {"sample": "every sample", "hour": "hourly", "day": "daily"}[bucket]
    return f"{shown} · {what} · UTC"


async def chart_spec(
    store: Store, metric: str, rules: Sequence[Rule], start: datetime, end: datetime
) -> ChartSpec | None:
    """Return the chart of `metric` from `start` to `end` with `rules` on it; None without data."""
    bucket = bucket_for(end - start)
    stored = await store.chart_points(metric, start, end, bucket)
    if not stored:
        return None
    info = metric_info(metric)
    mine = [r for r in rules if r.metric == metric]
    thresholds = tuple(
        Threshold(
            r.id,
            r.threshold,
            f"{r.id}: {format_condition(metric, r.op, r.threshold)}",
            r.custom,
        )
        for r in mine
        if r.threshold is not None and r.op != "new high"
    )
    events = await store.rule_events([r.id for r in mine], start, end)
    markers = tuple(
        Marker(e.rule_id, e.at, e.value, e.kind, direction_of(e.op))
        for e in events
        if e.notice is None
    )
    strip = None
    if metric == REGIME_METRIC:
        daily = stored if bucket == "day" else await store.chart_points(metric, start, end, "day")
        strip = component_strip(daily, start.date(), end.date())
    latest = stored[-1]
    return ChartSpec(
        metric=metric,
        title=f"{info.label} · {info.format(latest.value)}",
        subtitle=_period(max(start, stored[0].at), end, bucket),
        start=start,
        end=end,
        points=tuple(Point(p.at, p.value) for p in stored),
        provider=_PROVIDER_NAMES.get(latest.source, latest.source),
        thresholds=thresholds,
        markers=markers,
        running_high=any(r.op == "new high" for r in mine),
        strip=strip,
        steps=metric == REGIME_METRIC,
    )


def component_strip(points: Sequence[StoredPoint], first: date, last: date) -> ComponentStrip:
    """Return each regime component's verdict per day from the day's last sample's detail."""
    by_day: dict[date, dict[str, Verdict]] = {}
    for point in points:
        by_day[point.at.date()] = {r.key: r.verdict for r in from_detail(point.detail)}
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    rows = tuple(
        StripRow(
            STRIP_LABELS.get(c.key, c.label),
            tuple(by_day[d].get(c.key, "unknown") if d in by_day else None for d in days),
        )
        for c in COMPONENTS
    )
    return ComponentStrip(first, rows)


async def backtest_chart_spec(store: Store, result: Backtest) -> ChartSpec | None:
    """Return the chart of a backtest: its metric, its rule's level, and a marker per replayed event."""
    if result.first is None or result.last is None:
        return None
    rule = result.rule
    spec = await chart_spec(store, rule.metric, [rule], result.first, result.last)
    if spec is None:
        return None
    markers = tuple(
        Marker(rule.id, e.at, e.value, e.state, direction_of(rule.op)) for e in result.events
    )
    fired = sum(e.state == "firing" for e in result.events)
    return replace(
        spec,
        subtitle=f"{spec.subtitle} · backtest: fired {fired} time{'' if fired == 1 else 's'}",
        markers=markers,
    )
