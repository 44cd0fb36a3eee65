"""Yahoo Finance chart API v8: daily index closes, and the `rut` / `rut_spx_streak` source."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiohttp
import pandas as pd

from signals.http import BROWSER_USER_AGENT, DEFAULT_TIMEOUT, FeedClient
from signals.indices import (
    SETTLE,
    DailyBar,
    IndexChart,
    SessionClose,
    TradingPeriod,
    beat_streaks,
    chart_range,
    close_series,
    completed_closes,
)
from signals.payload import Payload, SkipLog
from signals.specs.yahoo import YahooMetric
from signals.types import FetchResult, Sample, SourceError, Stale

log = logging.getLogger(__name__)

PROVIDER = "yahoo"
DEFAULT_URL = "https://query1.finance.yahoo.com"
RUSSELL_2000 = "^RUT"
SP_500 = "^GSPC"
# `range=max` silently downgrades daily bars to monthly, so full history asks for 1900 onwards.
_EARLIEST = -2208994789


class YahooClient:
    """Typed calls to Yahoo's v8 chart endpoint, with the browser-like agent Yahoo insists on."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str = DEFAULT_URL,
        *,
        user_agent: str = BROWSER_USER_AGENT,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        headers = {"User-Agent": user_agent, "Accept": "application/json"}
        self._feed = FeedClient(session, PROVIDER, base_url, headers=headers, timeout=timeout)
        self._skips = SkipLog(log)

    async def full_history(self, symbol: str, now: datetime) -> IndexChart:
        """Return every daily bar Yahoo has for `symbol` up to `now`."""
        params: dict[str, str | int] = {
            "period1": _EARLIEST,
            "period2": int(now.timestamp()),
            "interval": "1d",
        }
        return await self._chart(symbol, params)

    async def recent(self, symbol: str, span: str) -> IndexChart:
        """Return the daily bars of the last `span` (a Yahoo range such as "5d" or "1mo")."""
        return await self._chart(symbol, {"range": span, "interval": "1d"})

    async def _chart(self, symbol: str, params: dict[str, str | int]) -> IndexChart:
        path = f"/v8/finance/chart/{quote(symbol, safe='')}"
        params = {**params, "includePrePost": "false", "events": "div,split"}
        chart = Payload(PROVIDER, await self._feed.get_json(path, params))["chart"]
        error = chart.get("error")
        if error is not None:
            raise error.fail(str(error.value))
        results = chart["result"]
        if results.length() != 1:
            raise results.fail(f"expected one result, got {results.length()}")
        result = next(results.items())
        meta = result["meta"]
        granularity = meta["dataGranularity"]
        if granularity.text() != "1d":
            raise granularity.fail(f"expected daily bars, got {granularity.value!r}")
        zone = _zone(meta["exchangeTimezoneName"])
        return IndexChart(symbol, zone, self._bars(symbol, result, zone), _current(meta))

    def _bars(self, symbol: str, result: Payload, zone: ZoneInfo) -> tuple[DailyBar, ...]:
        stamps = result.get("timestamp")
        if stamps is None:
            return ()  # a range with no session yet (e.g. early on New Year's Day)
        closes = result["indicators"]["quote"]
        first = next(closes.items(), None)
        if first is None:
            raise closes.fail("no quote series")
        values = first["close"]
        if values.length() != stamps.length():
            raise values.fail(f"{values.length()} closes for {stamps.length()} timestamps")
        bars: dict[date, float] = {}
        for stamp, value in zip(stamps.items(), values.items(), strict=True):
            day = datetime.fromtimestamp(stamp.integer(), zone).date()
            # Yahoo sends null on holidays and for some half-recorded days; skip, never guess.
            if value.is_null or value.number() <= 0:
                self._skips.skip(
                    f"{symbol}@{day}", "yahoo: skipped %s on %s: close %r", symbol, day, value.value
                )
                continue
            bars[day] = value.number()  # a repeated day keeps its latest bar
        return tuple(DailyBar(day, close) for day, close in sorted(bars.items()))


def _zone(field: Payload) -> ZoneInfo:
    try:
        return ZoneInfo(field.text())
    except (ZoneInfoNotFoundError, ValueError):
        raise field.fail(f"unknown time zone {field.value!r}") from None


def _current(meta: Payload) -> TradingPeriod | None:
    period = meta.get("currentTradingPeriod")
    regular = None if period is None else period.get("regular")
    if regular is None:
        return None
    return TradingPeriod(
        datetime.fromtimestamp(regular["start"].integer(), UTC),
        datetime.fromtimestamp(regular["end"].integer(), UTC),
    )


@dataclass(frozen=True, slots=True)
class _Point:
    """One session's value of a metric, and when the session closed."""

    day: date
    value: float
    at: datetime


# Sessions re-sent on each refresh: a long weekend plus a holiday, with room to spare.
_RESEND = 5
# Sessions since the Russell 2000 last closed at its all-time high (0: this session did).
SINCE_HIGH = YahooMetric.RUT_SESSIONS_SINCE_HIGH
METRICS = (YahooMetric.RUT, SINCE_HIGH)


def sessions_since_high(closes: list[_Point]) -> list[_Point]:
    """Return, for each session in order, how many sessions ago the highest close so far was."""
    points: list[_Point] = []
    high: float | None = None
    high_at = 0
    for position, close in enumerate(closes):
        if high is None or close.value >= high:
            high, high_at = close.value, position
        points.append(_Point(close.day, float(position - high_at), close.at))
    return points


class YahooIndices:
    """The `rut`, `rut_sessions_since_high` and `rut_spx_streak` source: final closes only.

    The first refresh asks for each index's full daily history (two calls) and returns every
    final close but the newest as `FetchResult.history`, oldest first, with the newest in
    `samples`. Later refreshes ask for the shortest range that reaches the last known session
    (`5d` when polling normally) and return the newest final closes, oldest first.
    A bar for a session still trading is never returned. When only the benchmark fails, `rut`
    still updates and the streak is marked stale until the benchmark answers again.
    """

    def __init__(
        self,
        client: YahooClient,
        *,
        name: str = PROVIDER,
        index: str = RUSSELL_2000,
        benchmark: str = SP_500,
        settle: timedelta = SETTLE,
    ) -> None:
        self.name = name
        self._client = client
        self._index = index
        self._benchmark = benchmark
        self._settle = settle
        self._closes: dict[str, dict[date, SessionClose]] = {index: {}, benchmark: {}}
        self._last: dict[str, date | None] = dict.fromkeys((*METRICS, YahooMetric.RUT_SPX_STREAK))

    async def fetch(self, now: datetime) -> FetchResult:
        """Refresh both indices and return the sessions that became final since last time."""
        await self._refresh(self._index, now)
        failure: SourceError | None = None
        try:
            await self._refresh(self._benchmark, now)
        except SourceError as exc:
            failure = exc
        index = self._closes[self._index]
        rut = [_Point(c.day, c.close, c.at) for c in sorted(index.values(), key=lambda c: c.day)]
        streaks = beat_streaks(
            close_series(index.values()), close_series(self._closes[self._benchmark].values())
        )
        days = [stamp.date() for stamp in pd.DatetimeIndex(streaks.index)]
        streak = [
            _Point(day, float(count), index[day].at)
            for day, count in zip(days, streaks.to_list(), strict=True)
        ]
        history, samples = self._emit(YahooMetric.RUT, rut)
        high_history, high_samples = self._emit(SINCE_HIGH, sessions_since_high(rut))
        history += high_history
        samples += high_samples
        streak_history, streak_samples = self._emit(YahooMetric.RUT_SPX_STREAK, streak)
        stale: tuple[Stale, ...] = ()
        last_streak = self._last[YahooMetric.RUT_SPX_STREAK]
        if failure is not None and rut and (last_streak is None or rut[-1].day > last_streak):
            stale = (Stale(YahooMetric.RUT_SPX_STREAK, f"{self._benchmark}: {failure.message}"),)
        return FetchResult(
            samples=_by_time(samples + streak_samples),
            stale=stale,
            history=_by_time(history + streak_history),
        )

    async def _refresh(self, symbol: str, now: datetime) -> None:
        known = self._closes[symbol]
        span = chart_range(max(known), now.astimezone(UTC).date()) if known else None
        if span is None:
            chart = await self._client.full_history(symbol, now)
        else:
            chart = await self._client.recent(symbol, span)
        # Later bars overwrite earlier ones: Yahoo may revise a close, and the streak wants it.
        known.update((c.day, c) for c in completed_closes(chart, now, self._settle))

    def _emit(self, metric: str, points: list[_Point]) -> tuple[list[Sample], list[Sample]]:
        """Return (history, samples): everything on the first refresh, the newest closes after.

        The newest closes go out on every refresh, not only the ones new since the last: if storing
        a refresh failed, the next one carries its closes again, and the rule engine ignores a close
        it has already evaluated.
        """
        if not points:
            return [], []
        first = self._last[metric] is None
        self._last[metric] = points[-1].day
        made = [Sample(metric, p.value, p.at, PROVIDER) for p in points]
        if first:
            return made[:-1], made[-1:]
        return [], made[-_RESEND:]


def _by_time(samples: list[Sample]) -> tuple[Sample, ...]:
    return tuple(sorted(samples, key=lambda s: s.at))
