"""Spot prices from a ccxt exchange: `eth_btc` and its 50-day trend, `btc_usd`, `eth_usd`, `sol_usd`.

The USD metrics read each exchange's dollar pair. Exchanges quote in different dollars:

| exchange | BTC pair | ETH pair | SOL pair | ETH/BTC |
|---|---|---|---|---|
| binance | BTC/USDT | ETH/USDT | SOL/USDT | ETH/BTC |
| kraken | BTC/USD (XXBTZUSD) | ETH/USD | SOL/USD | ETH/BTC (XETHXXBT) |
| coinbase | BTC/USD | ETH/USD | SOL/USD | ETH/BTC |

An exchange missing from `USD_QUOTES` uses USD when it lists BTC/USD, else USDT.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import ccxt.async_support as ccxt_async
from ccxt.base import errors as ccxt_errors

from signals.http import retry_after_seconds
from signals.payload import Payload
from signals.specs.exchange import ExchangeMetric
from signals.types import (
    BadPayload,
    FetchResult,
    RateLimited,
    Sample,
    SourceError,
    SourceUnavailable,
)

log = logging.getLogger(__name__)
# ccxt messages start with the exchange id, the method and the full URL.
_URL = re.compile(r"\S+://\S+\s*")

DEFAULT_PRIMARY = "binance"
DEFAULT_FALLBACKS = ("kraken", "coinbase")
USD_QUOTES: Mapping[str, str] = {
    "binance": "USDT",
    "bybit": "USDT",
    "okx": "USDT",
    "kucoin": "USDT",
    "kraken": "USD",
    "coinbase": "USD",
    "bitstamp": "USD",
    "gemini": "USD",
    "binanceus": "USD",
}
SMA_DAYS = 50
# ETH/BTC's last daily close against its 50-day average, in percent: above zero is above it.
TREND_METRIC = ExchangeMetric.ETH_BTC_VS_SMA50
# Ten spare candles cover the still-forming day and a few missing ones.
OHLCV_LIMIT = 60
# ETH/BTC's daily history, for backtests and charts: asked for once per process, from this day
# (before any exchange listed the pair, so each answers from its first candle), a page at a time.
HISTORY_SINCE = date(2015, 1, 1)
HISTORY_PAGE = 1000
# Binance lists ETH/BTC since 2017: four pages. A bound, so a misbehaving exchange cannot loop us.
_MAX_PAGES = 20
_DAY_MS = 86_400_000
_REGION_BLOCKED = 451

ExchangeFactory = Callable[[str], Any]
"""Make an unopened ccxt async exchange for an exchange id."""


def make_exchange(exchange_id: str, *, rate_limit: bool = True) -> Any:
    """Return a ccxt async exchange for `exchange_id` that loads spot markets only."""
    exchange_class = getattr(ccxt_async, exchange_id)
    # Binance loads spot, USD-M and COIN-M markets by default: three calls where one will do.
    options = {"fetchMarkets": {"types": ["spot"]}} if exchange_id == "binance" else {}
    return exchange_class({"enableRateLimit": rate_limit, "options": options})


def rebase_urls(urls: object, api_url: str) -> object:
    """Return `urls` (a URL, or nested dicts of them) with scheme and host taken from `api_url`."""
    if isinstance(urls, str):
        root = urlsplit(api_url)
        parts = urlsplit(urls)
        if not parts.scheme or not parts.netloc:
            return urls
        return urlunsplit((root.scheme, root.netloc, parts.path, parts.query, parts.fragment))
    if isinstance(urls, dict):
        return {key: rebase_urls(value, api_url) for key, value in urls.items()}
    if isinstance(urls, list):
        return [rebase_urls(value, api_url) for value in urls]
    return urls


@dataclass(frozen=True, slots=True)
class Pairs:
    """The unified ccxt symbols one exchange serves each metric from."""

    eth_btc: str
    btc_usd: str
    eth_usd: str
    sol_usd: str

    def by_metric(self) -> dict[str, str]:
        """Return metric id -> symbol."""
        return {
            ExchangeMetric.ETH_BTC: self.eth_btc,
            ExchangeMetric.BTC_USD: self.btc_usd,
            ExchangeMetric.ETH_USD: self.eth_usd,
            ExchangeMetric.SOL_USD: self.sol_usd,
        }


def pairs_for(exchange_id: str, listed: Mapping[str, object]) -> Pairs:
    """Return the pairs to read on `exchange_id`, given its loaded markets `listed`."""
    quote = USD_QUOTES.get(exchange_id) or ("USD" if "BTC/USD" in listed else "USDT")
    return Pairs("ETH/BTC", f"BTC/{quote}", f"ETH/{quote}", f"SOL/{quote}")


@dataclass(frozen=True, slots=True)
class Trend:
    """The last settled daily close of a pair against the average of the closes up to it."""

    closed_at: datetime
    close: float
    sma: float

    @property
    def percent_above(self) -> float:
        """Return how far the close is above its average, in percent (negative: below)."""
        return (self.close / self.sma - 1.0) * 100.0


def settled_closes(candles: Payload, now: datetime) -> list[tuple[datetime, float]]:
    """Return (close time, close) of the daily candles that closed by `now`, oldest first."""
    cutoff = now.timestamp() * 1000
    closes: list[tuple[datetime, float]] = []
    for candle in candles.items():
        opened = candle.items()
        stamp = next(opened, None)
        if stamp is None:
            raise candle.fail("empty candle")
        closed_ms = stamp.integer() + _DAY_MS
        if closed_ms > cutoff:
            continue  # today's candle is still moving; the average is over settled days
        fields = list(opened)
        if len(fields) < 4:
            raise candle.fail(f"expected [time, open, high, low, close, ...], got {candle.value!r}")
        closes.append((datetime.fromtimestamp(closed_ms / 1000, UTC), fields[3].positive()))
    closes.sort(key=lambda item: item[0])
    return closes


def trend_of_completed(candles: Payload, days: int, now: datetime) -> Trend | None:
    """Return the last settled close against the mean of the `days` settled closes up to it."""
    closes = settled_closes(candles, now)
    if len(closes) < days:
        return None
    closed_at, close = closes[-1]
    return Trend(closed_at, close, math.fsum(c for _, c in closes[-days:]) / days)


def ccxt_reason(exc: BaseException, exchange_id: str, otherwise: str) -> str:
    """Return why a ccxt call failed, without the exchange id and URL ccxt puts first.

    For a refused connection or a timeout ccxt's message is only `<id> GET <url>`: the reason
    is then the network error beneath it (`ClientConnectorError: Cannot connect to host ...`),
    else `otherwise`.
    """
    text = _words(exc, exchange_id)
    if text:
        return text
    cause = exc.__cause__ or exc.__context__
    while cause is not None:
        text = _words(cause, exchange_id)
        if text:
            return f"{type(cause).__name__}: {text}"
        cause = cause.__cause__ or cause.__context__
    return otherwise


def _words(exc: BaseException, exchange_id: str) -> str:
    text = _URL.sub("", str(exc)).strip()
    return text.removeprefix(exchange_id).strip().removeprefix("GET").strip()


class ExchangePrices:
    """The ccxt spot-price source: the primary exchange, else each fallback in order.

    One refresh costs, per exchange tried: loading its markets once per process (binance: one
    call with spot-only markets; kraken: two), then one ticker call for the four pairs and one
    daily OHLCV call for ETH/BTC. An exchange that answers HTTP 451 (Binance, from US hosts) is
    skipped for `retry_primary_after`, with one warning naming the setting to change.
    """

    def __init__(
        self,
        primary: str = DEFAULT_PRIMARY,
        fallbacks: Sequence[str] = DEFAULT_FALLBACKS,
        *,
        api_url: str | None = None,
        name: str = "exchange",
        retry_primary_after: timedelta = timedelta(hours=1),
        factory: ExchangeFactory = make_exchange,
        history_since: date | None = None,
    ) -> None:
        chain = list(dict.fromkeys(e.strip().lower() for e in (primary, *fallbacks) if e.strip()))
        unknown = [e for e in chain if e not in ccxt_async.exchanges]
        if not chain or unknown:
            raise ValueError(f"unknown ccxt exchange id(s): {', '.join(unknown) or '(none)'}")
        self.name = name
        self.chain = tuple(chain)
        self._api_url = api_url
        self._retry_after = retry_primary_after
        self._factory = factory
        self._exchanges: dict[str, Any] = {}
        self._blocked_until: dict[str, datetime] = {}
        self._warned: set[str] = set()
        self._history_since = history_since
        # The exchanges whose ETH/BTC history this process has read (and the store has kept).
        self._history_read: set[str] = set()

    async def fetch(self, now: datetime) -> FetchResult:
        """Return the four prices from the first exchange in the chain that answers."""
        failures: list[SourceError] = []
        for exchange_id in self.chain:
            until = self._blocked_until.get(exchange_id)
            if until is not None and now < until:
                continue
            try:
                samples = await self._read(exchange_id, now)
                history = await self._history(exchange_id, now)
            except SourceError as exc:
                failures.append(exc)
                continue
            self._blocked_until.pop(exchange_id, None)
            if failures:
                log.info("%s: used %s after %s", self.name, exchange_id, _summary(failures))
            return FetchResult(samples=samples, history=history)
        raise self._combined(failures)

    async def close(self) -> None:
        """Close every exchange this source opened."""
        opened, self._exchanges = self._exchanges, {}
        # ccxt waits a quarter second in each close for TLS to shut down; wait once for all.
        await asyncio.gather(*(exchange.close() for exchange in opened.values()))

    def _exchange(self, exchange_id: str) -> Any:
        exchange = self._exchanges.get(exchange_id)
        if exchange is None:
            exchange = self._factory(exchange_id)
            if self._api_url:
                exchange.urls["api"] = rebase_urls(exchange.urls["api"], self._api_url)
            self._exchanges[exchange_id] = exchange
        return exchange

    async def _read(self, exchange_id: str, now: datetime) -> tuple[Sample, ...]:
        exchange = self._exchange(exchange_id)
        try:
            listed = await exchange.load_markets()
            pairs = pairs_for(exchange_id, listed)
            symbols = list(pairs.by_metric().values())
            if exchange.has.get("fetchTickers"):
                tickers = await exchange.fetch_tickers(symbols)
            else:
                tickers = {s: await exchange.fetch_ticker(s) for s in symbols}
            candles = await exchange.fetch_ohlcv(pairs.eth_btc, "1d", limit=OHLCV_LIMIT)
        except ccxt_errors.BaseError as exc:
            raise self._translate(exchange_id, exchange, exc, now) from exc
        except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
            # ccxt's parsers assume the documented shape and crash on anything else, such as
            # the HTML page a bot wall answers with.
            problem = f"unexpected response shape ({type(exc).__name__}: {exc})"
            raise BadPayload(exchange_id, "body", problem) from exc
        return _samples(exchange_id, pairs, Payload(exchange_id, tickers), candles, now)

    async def _history(self, exchange_id: str, now: datetime) -> tuple[Sample, ...]:
        """Return ETH/BTC's settled daily closes and their 50-day trend, once per exchange.

        The newest settled day is left out: the refresh's own samples carry it.
        """
        if self._history_since is None or exchange_id in self._history_read:
            return ()
        exchange = self._exchange(exchange_id)
        pair = pairs_for(exchange_id, exchange.markets).eth_btc
        since = int(datetime.combine(self._history_since, time(), UTC).timestamp() * 1000)
        candles: list[Any] = []
        try:
            for _ in range(_MAX_PAGES):
                page = await exchange.fetch_ohlcv(pair, "1d", since=since, limit=HISTORY_PAGE)
                fresh = [c for c in page if not candles or c[0] > candles[-1][0]]
                if not fresh:
                    break
                candles += fresh
                since = int(fresh[-1][0]) + _DAY_MS
                if since > now.timestamp() * 1000:
                    break
        except ccxt_errors.BaseError as exc:
            raise self._translate(exchange_id, exchange, exc, now) from exc
        closes = settled_closes(Payload(exchange_id, candles, "ohlcv"), now)[:-1]
        self._history_read.add(exchange_id)
        if closes:
            log.info(
                "%s: ETH/BTC daily history from %s, %d closes",
                exchange_id,
                f"{closes[0][0]:%Y-%m-%d}",
                len(closes),
            )
        return _history_samples(exchange_id, closes)

    def _translate(
        self, exchange_id: str, exchange: Any, exc: Exception, now: datetime
    ) -> SourceError:
        if isinstance(exc, ccxt_errors.RestrictedLocation) or http_status_in(exc, _REGION_BLOCKED):
            self._block(exchange_id, now)
            return SourceUnavailable(exchange_id, f"refuses this host's region (HTTP 451): {exc}")
        if isinstance(exc, ccxt_errors.DDoSProtection | ccxt_errors.RateLimitExceeded):
            headers = exchange.last_response_headers or {}
            return RateLimited(
                exchange_id, retry_after_seconds(header_value(headers, "Retry-After"), now)
            )
        if isinstance(exc, ccxt_errors.BadResponse):
            return BadPayload(exchange_id, "body", str(exc))
        # Network errors, 5xx, and exchange errors such as an unknown symbol all mean
        # "no price from this exchange now"; the next exchange in the chain may have one.
        reason = ccxt_reason(exc, exchange_id, f"no answer from {exchange_id}")
        return SourceUnavailable(exchange_id, f"{type(exc).__name__}: {reason}")

    def _block(self, exchange_id: str, now: datetime) -> None:
        self._blocked_until[exchange_id] = now + self._retry_after
        if exchange_id in self._warned:
            log.info("%s still refuses this host's region (HTTP 451)", exchange_id)
            return
        self._warned.add(exchange_id)
        others = [e for e in self.chain if e != exchange_id] or ["kraken", "coinbase"]
        log.warning(
            "%s refuses this host's region (HTTP 451); set EXCHANGE=%s",
            exchange_id.capitalize(),
            " or ".join(others),
        )

    def _combined(self, failures: list[SourceError]) -> SourceError:
        if not failures:
            blocked = ", ".join(
                f"{e} until {t:%H:%M} UTC" for e, t in sorted(self._blocked_until.items())
            )
            return SourceUnavailable(self.name, f"every exchange is set aside: {blocked}")
        if all(isinstance(f, RateLimited) for f in failures):
            waits = [f.retry_after for f in failures if isinstance(f, RateLimited)]
            known = [w for w in waits if w is not None]
            return RateLimited(self.name, min(known) if known else None)
        if len(failures) == 1:
            return failures[0]
        if all(isinstance(f, BadPayload) for f in failures):
            return failures[0]
        return SourceUnavailable(self.name, f"every exchange failed: {_summary(failures)}")


def _samples(
    exchange_id: str, pairs: Pairs, tickers: Payload, candles: object, now: datetime
) -> tuple[Sample, ...]:
    samples: list[Sample] = []
    for metric, symbol in pairs.by_metric().items():
        ticker = tickers[symbol]
        last = ticker["last"]
        if last.is_null:
            raise last.fail("null price")
        price = last.positive()
        stamp = ticker.get("timestamp")
        at = now if stamp is None else datetime.fromtimestamp(stamp.integer() / 1000, UTC)
        detail: tuple[tuple[str, str], ...] = ()
        if metric == ExchangeMetric.ETH_BTC:
            trend = trend_of_completed(Payload(exchange_id, candles, "ohlcv"), SMA_DAYS, now)
            if trend is not None:
                detail = (("sma50", f"{trend.sma:.8f}"),)
                samples.append(_trend_sample(trend, exchange_id))
        samples.append(Sample(metric, price, at, exchange_id, detail))
    return tuple(samples)


def _history_samples(
    exchange_id: str, closes: Sequence[tuple[datetime, float]]
) -> tuple[Sample, ...]:
    """Return each close as `eth_btc` and, from the 50th on, its trend, oldest first."""
    samples: list[Sample] = []
    window = 0.0
    for index, (closed_at, close) in enumerate(closes):
        samples.append(Sample(ExchangeMetric.ETH_BTC, close, closed_at, exchange_id))
        window += close
        if index >= SMA_DAYS:
            window -= closes[index - SMA_DAYS][1]
        if index >= SMA_DAYS - 1:
            samples.append(_trend_sample(Trend(closed_at, close, window / SMA_DAYS), exchange_id))
    return tuple(samples)


def _trend_sample(trend: Trend, exchange_id: str) -> Sample:
    detail = (("close", f"{trend.close:.8f}"), ("sma50", f"{trend.sma:.8f}"))
    return Sample(TREND_METRIC, trend.percent_above, trend.closed_at, exchange_id, detail)


def http_status_in(exc: Exception, status: int) -> bool:
    """Return whether a ccxt error reports HTTP `status`."""
    # ccxt puts the HTTP status in the message: "binance GET <url> 451 <reason> <body>".
    return f" {status} " in f" {exc} "


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """Return header `name` from a plain dict of response headers, ignoring case."""
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def _summary(failures: Sequence[SourceError]) -> str:
    return "; ".join(f"{f.source}: {f.message}" for f in failures)
