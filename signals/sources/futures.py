"""Binance USDⓈ-M futures: `alt_long_short`, the median long/short account ratio of the top alts.

The ten largest altcoins by market cap (from an injected ranking, BTC, stablecoins and wrapped
tokens already out) that have an active `<COIN>/USDT:USDT` perpetual each give their global
long/short ACCOUNT ratio for the newest closed hour (`GET /futures/data/
globalLongShortAccountRatio?symbol=<ID>&period=1h&limit=3`); the metric is the median of those
that answered, published only when at least six did.

HTTP calls per refresh: cold = 11 (`GET /fapi/v1/exchangeInfo` + 10 ratio calls), warm = 10.
The contract list is loaded once per process and reloaded at most once a day.

Binance caps the `/futures/data/` endpoints at 1000 requests per 5 minutes per IP ("IP rate
limit 1000 requests/5min" on https://developers.binance.com/docs/derivatives/usds-margined-futures/
market-data/rest-api/Long-Short-Ratio; request weight 0). A sliding window keeps this source
at 80 % of that; when the window is full the refresh stops asking and the remaining symbols
count as unanswered. HTTP 429/418 become `RateLimited` (with Retry-After), and HTTP 451 (Binance
refuses US hosts) a `SourceUnavailable` that names `FUTURES_API_URL`, since nothing else serves
this metric.

Which point is closed: Binance stamps each point on a period boundary (a recorded live answer
for a 5m period is stamped 10:30:00.000), and neither its docs nor that recording say whether
the stamp is the period's start or its end. This source takes it as the start, so a
point counts as closed once `timestamp + 1 h <= now`: if the stamp is really the end, the value
used is one hour older than it could be, but never one still moving.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ccxt.base import errors as ccxt_errors

from signals.http import retry_after_seconds
from signals.payload import Payload
from signals.sources.exchange import (
    ExchangeFactory,
    ccxt_reason,
    header_value,
    http_status_in,
    make_exchange,
    rebase_urls,
)
from signals.specs.futures import FuturesMetric
from signals.types import (
    BadPayload,
    FetchResult,
    RateLimited,
    Sample,
    SourceError,
    SourceUnavailable,
    Stale,
)
from timing import SlidingWindowLimiter

log = logging.getLogger(__name__)

METRIC = FuturesMetric.ALT_LONG_SHORT
PROVIDER = "binance-futures"
EXCHANGE_ID = "binanceusdm"
TOP = 10
MIN_ANSWERS = 6
PERIOD = "1h"
# Two points always hold a closed one; the third covers a point Binance publishes late.
POINTS = 3
# Binance's documented cap for /futures/data/*, per IP, and the share of it this source uses.
DATA_CAP = 1000
DATA_WINDOW_SECONDS = 300.0
SAFETY = 0.8
MARKETS_MAX_AGE = timedelta(days=1)
# A symbol whose newest closed hour is older than this has stopped reporting.
MAX_POINT_AGE = timedelta(hours=3)
REGION_MESSAGE = (
    "Binance futures data refuses this host's region (HTTP 451); alt_long_short has no "
    "fallback source: set FUTURES_API_URL to a proxy in an allowed region"
)
_PERIOD = timedelta(hours=1)
_REGION_BLOCKED = 451
_MULTIPLIED = "1000"
LISTINGS = "the contract list (exchangeInfo)"
_BRIEF = 160

Ranking = Callable[[], Sequence[str]]
"""Return altcoin symbols (upper case), largest market cap first."""


class RegionRefused(SourceUnavailable):
    """Binance refuses this host's region; no refresh can succeed from here."""

    def __init__(self, source: str) -> None:
        super().__init__(source, REGION_MESSAGE)


@dataclass(frozen=True, slots=True)
class Perpetual:
    """One altcoin and the Binance id of its USDT-margined perpetual."""

    base: str
    market_id: str


@dataclass(frozen=True, slots=True)
class Reading:
    """One symbol's long/short account ratio for its newest closed hour."""

    base: str
    ratio: float
    at: datetime


def listed_perpetuals(markets: Mapping[str, Any]) -> dict[str, str]:
    """Return base -> market id of the active USDT-margined perpetuals in ccxt's `markets`."""
    listed: dict[str, str] = {}
    for market in markets.values():
        market_id = str(market.get("id") or "")
        if (
            market.get("swap")
            and market.get("linear")
            and market.get("active")
            and market.get("settle") == "USDT"
            and market_id
            # 1000PEPEUSDT trades a thousand coins per unit: a different contract, not PEPE's.
            and not market_id.startswith(_MULTIPLIED)
        ):
            listed[str(market["base"])] = market_id
    return listed


def pick_perpetuals(
    ranking: Sequence[str], listed: Mapping[str, str], count: int = TOP
) -> tuple[Perpetual, ...]:
    """Return the first `count` ranked symbols that have a listed perpetual, in ranking order."""
    picked: dict[str, Perpetual] = {}
    for symbol in ranking:
        base = symbol.strip().upper()
        market_id = listed.get(base)
        if market_id is None or base in picked:
            continue
        picked[base] = Perpetual(base, market_id)
        if len(picked) == count:
            break
    return tuple(picked.values())


def newest_closed(base: str, points: Payload, now: datetime) -> Reading:
    """Return the newest point in `points` whose hour ended by `now`."""
    cutoff = now - _PERIOD
    newest: tuple[datetime, Payload] | None = None
    for point in points.items():
        start = _stamp(point["timestamp"])
        if start <= cutoff and (newest is None or start > newest[0]):
            newest = (start, point)
    if newest is None:
        raise points.fail(f"no closed {PERIOD} point among {points.length()}")
    start, point = newest
    if now - (start + _PERIOD) > MAX_POINT_AGE:
        raise point.fail(f"newest closed {PERIOD} point is from {start:%Y-%m-%d %H:%M} UTC")
    return Reading(base, _ratio(point["longShortRatio"]), start)


class AltLongShort:
    """The `alt_long_short` source: Binance USDⓈ-M long/short account ratios, one ccxt client."""

    def __init__(
        self,
        ranking: Ranking,
        *,
        api_url: str | None = None,
        name: str = "futures",
        factory: ExchangeFactory = make_exchange,
        limiter: SlidingWindowLimiter | None = None,
    ) -> None:
        self.name = name
        self._ranking = ranking
        self._api_url = api_url
        self._factory = factory
        self.limiter = limiter or SlidingWindowLimiter.under_cap(
            DATA_CAP, DATA_WINDOW_SECONDS, SAFETY
        )
        self._exchange: Any = None
        self._listed: dict[str, str] | None = None
        self._listed_at: datetime | None = None

    async def fetch(self, now: datetime) -> FetchResult:
        """Return the median ratio of the top ten altcoin perpetuals, or why there is none."""
        ranking = list(self._ranking())
        if not ranking:
            return _stale("waiting for the market-cap ranking")
        exchange = self._open()
        listed = await self._load_listings(exchange, now)
        chosen = pick_perpetuals(ranking, listed)
        if len(chosen) < MIN_ANSWERS:
            return _stale(
                f"only {len(chosen)} of {len(ranking)} ranked altcoins have an active "
                f"USDT perpetual on Binance (need {MIN_ANSWERS})"
            )
        readings, failures, capped = await self._read_all(exchange, chosen, now)
        if not readings:
            # Nothing at all is a failed refresh, so the poller backs off and reports the outage.
            if capped:
                raise RateLimited(PROVIDER, self.limiter.retry_after())
            raise SourceUnavailable(PROVIDER, f"no symbol answered: {'; '.join(failures)}")
        if len(readings) < MIN_ANSWERS:
            return _stale(
                f"only {len(readings)} of {len(chosen)} symbols answered "
                f"(need {MIN_ANSWERS}): {'; '.join(failures)}"
            )
        if failures:
            log.info("%s: median without %s", self.name, "; ".join(failures))
        return FetchResult(samples=(_sample(readings),))

    async def close(self) -> None:
        """Close the ccxt client, if one was opened."""
        exchange, self._exchange = self._exchange, None
        if exchange is not None:
            await exchange.close()

    def _open(self) -> Any:
        if self._exchange is None:
            exchange = self._factory(EXCHANGE_ID)
            if self._api_url:
                exchange.urls["api"] = rebase_urls(exchange.urls["api"], self._api_url)
            self._exchange = exchange
        return self._exchange

    async def _load_listings(self, exchange: Any, now: datetime) -> dict[str, str]:
        if (
            self._listed is not None
            and self._listed_at is not None
            and now - self._listed_at < MARKETS_MAX_AGE
        ):
            return self._listed
        try:
            listed = await self._fetch_listings(exchange, now)
        except SourceError as exc:
            if self._listed is None or isinstance(exc, RateLimited | RegionRefused):
                raise
            # Listings change rarely: yesterday's serve until a reload succeeds.
            log.warning("%s: kept the listed contracts; reloading failed: %s", self.name, exc)
            return self._listed
        self._listed, self._listed_at = listed, now
        return listed

    async def _fetch_listings(self, exchange: Any, now: datetime) -> dict[str, str]:
        try:
            # Always reload: ccxt would otherwise hand back its cached answer, even an empty one.
            markets = await exchange.load_markets(True)
        except ccxt_errors.BaseError as exc:
            raise _translate(exchange, exc, now, LISTINGS) from exc
        except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
            # ccxt's market parser assumes the documented shape and crashes on anything else.
            problem = f"unexpected shape ({type(exc).__name__}: {exc})"
            raise BadPayload(PROVIDER, "exchangeInfo", problem) from exc
        listed = listed_perpetuals(markets or {})
        if not listed:
            # An HTML page parses into no markets at all rather than an error.
            raise BadPayload(PROVIDER, "exchangeInfo", "lists no active USDT perpetual")
        return listed

    async def _read_all(
        self, exchange: Any, chosen: Sequence[Perpetual], now: datetime
    ) -> tuple[list[Reading], list[str], bool]:
        readings: list[Reading] = []
        failures: list[str] = []
        for index, perpetual in enumerate(chosen):
            if not self.limiter.try_acquire():
                unasked = ", ".join(p.base for p in chosen[index:])
                failures.append(
                    f"{unasked}: not asked, {self.limiter.limit} requests per "
                    f"{self.limiter.window:g} s already sent"
                )
                return readings, failures, True
            try:
                readings.append(await self._read(exchange, perpetual, now))
            except (RateLimited, RegionRefused):
                raise
            except SourceError as exc:
                failures.append(f"{perpetual.base}: {exc.message}")
        return readings, failures, False

    async def _read(self, exchange: Any, perpetual: Perpetual, now: datetime) -> Reading:
        params = {"symbol": perpetual.market_id, "period": PERIOD, "limit": POINTS}
        try:
            answer = await exchange.fapiDataGetGlobalLongShortAccountRatio(params)
        except ccxt_errors.BaseError as exc:
            what = f"the {perpetual.market_id} long/short ratio"
            raise _translate(exchange, exc, now, what) from exc
        return newest_closed(perpetual.base, Payload(PROVIDER, answer, perpetual.market_id), now)


def _translate(exchange: Any, exc: Exception, now: datetime, what: str) -> SourceError:
    """Return the source error for ccxt's `exc`, raised while fetching `what`."""
    if isinstance(exc, ccxt_errors.RestrictedLocation) or http_status_in(exc, _REGION_BLOCKED):
        return RegionRefused(PROVIDER)
    if isinstance(exc, ccxt_errors.DDoSProtection | ccxt_errors.RateLimitExceeded):
        headers = exchange.last_response_headers or {}
        return RateLimited(PROVIDER, retry_after_seconds(header_value(headers, "Retry-After"), now))
    if isinstance(exc, ccxt_errors.BadResponse):
        return BadPayload(PROVIDER, "body", _brief(exc))
    # 5xx, timeouts, a dropped connection, or an exchange error such as an unknown symbol.
    reason = ccxt_reason(exc, EXCHANGE_ID, "no answer from Binance")
    return SourceUnavailable(PROVIDER, f"{type(exc).__name__} fetching {what}: {reason}")


def _brief(exc: BaseException) -> str:
    text = ccxt_reason(exc, EXCHANGE_ID, "")
    return text if len(text) <= _BRIEF else f"{text[: _BRIEF - 3]}..."


def _stamp(field: Payload) -> datetime:
    # Binance's docs show the timestamp as a string; live answers send a number.
    value = field.value
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    millis = Payload(field.source, value, field.where).integer()
    return datetime.fromtimestamp(millis / 1000, UTC)


def _ratio(field: Payload) -> float:
    value = field.value
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise field.fail(f"expected a decimal string, got {field.value!r}") from None
    ratio = Payload(field.source, value, field.where).number()
    if ratio < 0:
        raise field.fail(f"expected a ratio >= 0, got {ratio:g}")
    return ratio


def _sample(readings: Sequence[Reading]) -> Sample:
    detail = tuple((r.base, f"{r.ratio:.4f}") for r in readings)
    return Sample(
        METRIC,
        statistics.median(r.ratio for r in readings),
        max(r.at for r in readings),
        PROVIDER,
        (*detail, ("symbols", str(len(readings)))),
    )


def _stale(reason: str) -> FetchResult:
    return FetchResult(stale=(Stale(METRIC, reason),))
