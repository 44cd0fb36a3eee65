"""A local fake of CoinGecko v3, CoinPaprika v1 and Yahoo's v8 chart API, scriptable per test.

Set the wire-format data a test needs (`markets`, `categories`, `category_names`, `charts`,
`chart_volumes`, `coingecko_global`, `paprika_global`, `paprika_tickers`, `yahoo`), or queue exact
replies for a path (an error, an HTML page, a truncated body, a hang); queued replies go out
first, in order. Every request is
recorded in `seen`, so a test can count calls per path and check query and headers.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from bot.settings import Settings

JsonObject = dict[str, Any]
# Nothing listens on the discard port: a feed pointed here fails at once, on this host.
CLOSED_URL = "http://127.0.0.1:9"


def offline_feeds() -> dict[str, str]:
    """Return every feed's URL setting (lower case) mapped to a closed local port.

    Derived from `Settings`, so a feed added later is covered without touching the tests that
    start the whole service; the chat APIs are left alone (their tokens keep them off).
    """
    return {
        name: CLOSED_URL
        for name in Settings.model_fields
        if name.endswith("_api_url") and not name.startswith(("telegram", "discord"))
    }


@dataclass(frozen=True)
class Reply:
    """One scripted answer: JSON `body` (or `raw` bytes), a status, headers, or misbehaviour."""

    status: int = 200
    body: Any = None
    raw: bytes | None = None
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    hang: bool = False
    truncate: int | None = None

    def payload(self) -> bytes:
        """Return the bytes this reply carries."""
        if self.raw is not None:
            return self.raw
        return json.dumps(self.body).encode()


@dataclass(frozen=True)
class Seen:
    """One request the fake received."""

    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]


class LocalServer:
    """An aiohttp app on 127.0.0.1 (ephemeral port) that records requests and serves queued replies.

    Subclasses answer in `_handle`; queued replies for a path (see `queue`) are theirs to serve first.
    """

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self._queues: dict[str, deque[Reply]] = defaultdict(deque)
        # Set on close, so a reply scripted to hang lets the server shut down.
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    def queue(self, path: str, *replies: Reply) -> None:
        """Serve `replies`, in order, to the next requests for `path`."""
        self._queues[path].extend(replies)

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError

    async def _send(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        if reply.hang:
            await self._release.wait()
        data = reply.payload()
        if reply.truncate is None:
            return web.Response(
                status=reply.status,
                body=data,
                content_type=reply.content_type,
                headers=dict(reply.headers),
            )
        response = web.StreamResponse(status=reply.status, headers=dict(reply.headers))
        response.content_type = reply.content_type
        response.content_length = len(data)
        await response.prepare(request)
        await response.write(data[: reply.truncate])
        # Drop the connection mid-body, as a proxy that gives up does.
        if request.transport is not None:
            request.transport.close()
        return response


class FeedServer(LocalServer):
    """An aiohttp app on 127.0.0.1 (ephemeral port) speaking the three providers' wire formats."""

    def __init__(self) -> None:
        super().__init__()
        self.markets: list[JsonObject] = []
        self.categories: dict[str, list[str]] = {}
        # `/coins/categories/list`: category id -> name; None lists every scripted category,
        # named as CoinGecko would title it.
        self.category_names: dict[str, str] | None = None
        self.charts: dict[str, list[list[float | None]]] = {}
        # A coin's `total_volumes`; without an entry, 1e8 at every price point.
        self.chart_volumes: dict[str, list[list[float | None]]] = {}
        self.coingecko_global: JsonObject | None = None
        self.paprika_global: JsonObject | None = None
        self.paprika_tickers: dict[str, JsonObject] = {}
        self.yahoo: dict[str, JsonObject] = {}

    @property
    def coingecko_url(self) -> str:
        """Return the CoinGecko API root on this fake."""
        return f"{self.url}/api/v3"

    def calls(self, path: str | None = None, **query: str) -> int:
        """Count requests, all or for `path`, whose query contains every `query` item."""
        return sum(
            1
            for seen in self.seen
            if (path is None or seen.path == path)
            and all(seen.query.get(key) == value for key, value in query.items())
        )

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(Seen(request.path, dict(request.query), dict(request.headers)))
        queued = self._queues.get(request.path)
        if queued:
            return await self._send(request, queued.popleft())
        for prefix, route in self._routes():
            if request.path.startswith(prefix):
                return await self._send(request, route(request, request.path[len(prefix) :]))
        return await self._send(request, Reply(404, {"error": "not found"}))

    def _routes(self) -> Sequence[tuple[str, Callable[[web.Request, str], Reply]]]:
        return (
            ("/api/v3/global", self._coingecko_global),
            ("/api/v3/coins/markets", self._coingecko_markets),
            ("/api/v3/coins/categories/list", self._coingecko_category_list),
            ("/api/v3/coins/", self._coingecko_chart),
            ("/v1/global", self._paprika_global),
            ("/v1/tickers/", self._paprika_ticker),
            ("/v8/finance/chart/", self._yahoo_chart),
        )

    def _coingecko_global(self, request: web.Request, _: str) -> Reply:
        if self.coingecko_global is None:
            return Reply(503, {"error": "global not scripted"})
        return Reply(body=self.coingecko_global)

    def _coingecko_markets(self, request: web.Request, _: str) -> Reply:
        per_page = int(request.query.get("per_page", "100"))
        category = request.query.get("category")
        if category is None:
            ranked = sorted(self.markets, key=lambda coin: coin["market_cap"] or 0, reverse=True)
            return Reply(body=ranked[:per_page])
        known = {coin["id"]: coin for coin in self.markets}
        members = [
            known.get(coin_id) or {"id": coin_id, "symbol": coin_id[:4], "name": coin_id}
            for coin_id in self.categories.get(category, [])
        ]
        return Reply(body=members[:per_page])

    def _coingecko_category_list(self, request: web.Request, _: str) -> Reply:
        names = self.category_names
        if names is None:
            names = {c: c.replace("-", " ").title() for c in self.categories}
        return Reply(body=[{"category_id": c, "name": name} for c, name in names.items()])

    def _coingecko_chart(self, request: web.Request, tail: str) -> Reply:
        coin_id, _, rest = tail.partition("/")
        if rest != "market_chart" or coin_id not in self.charts:
            return Reply(404, {"error": "coin not found"})
        prices = self.charts[coin_id]
        volumes = self.chart_volumes.get(coin_id) or [[stamp, 1.0e8] for stamp, _ in prices]
        # The real body: three parallel [timestamp_ms, value] arrays, caps as price x supply.
        return Reply(
            body={
                "prices": prices,
                "market_caps": [
                    [stamp, None if price is None else price * 1.0e7] for stamp, price in prices
                ],
                "total_volumes": volumes,
            }
        )

    def _paprika_global(self, request: web.Request, _: str) -> Reply:
        if self.paprika_global is None:
            return Reply(503, {"error": "global not scripted"})
        return Reply(body=self.paprika_global)

    def _paprika_ticker(self, request: web.Request, coin_id: str) -> Reply:
        ticker = self.paprika_tickers.get(coin_id)
        if ticker is None:
            return Reply(404, {"error": "id not found"})
        return Reply(body=ticker)

    def _yahoo_chart(self, request: web.Request, symbol: str) -> Reply:
        # Yahoo turns away agents that do not look like a browser.
        if not request.headers.get("User-Agent", "").startswith("Mozilla/"):
            return Reply(429, raw=b"Too Many Requests\r\n", content_type="text/plain")
        chart = self.yahoo.get(symbol)
        if chart is None:
            error = {"code": "Not Found", "description": "No data found, symbol may be delisted"}
            return Reply(404, {"chart": {"result": None, "error": error}})
        return Reply(body=chart)


def cg_coin(
    coin_id: str,
    price: float | None,
    market_cap: float | None,
    rank: int | None,
    *,
    symbol: str | None = None,
    name: str | None = None,
    volume: float | None = 1.0e8,
) -> JsonObject:
    """Return one `/coins/markets` entry in CoinGecko's wire shape."""
    return {
        "id": coin_id,
        "symbol": symbol or coin_id[:5],
        "name": name or coin_id.replace("-", " ").title(),
        "image": f"https://assets.coingecko.com/coins/images/1/large/{coin_id}.png",
        "current_price": price,
        "market_cap": market_cap,
        "market_cap_rank": rank,
        "fully_diluted_valuation": market_cap,
        "total_volume": volume,
        "high_24h": price,
        "low_24h": price,
        "price_change_24h": 0.0,
        "price_change_percentage_24h": 0.0,
        "circulating_supply": 1.0e6,
        "total_supply": 1.0e6,
        "max_supply": None,
        "ath": price,
        "roi": None,
        "last_updated": "2024-06-30T12:00:00.000Z",
    }


def cg_daily_prices(
    first: date, last: date, price: Callable[[date], float | None], now: datetime | None = None
) -> list[list[float | None]]:
    """Return `market_chart` prices: one point at 00:00 UTC per day, plus `now`'s if given."""
    points: list[list[float | None]] = []
    day = first
    while day <= last:
        stamp = datetime.combine(day, datetime.min.time(), UTC).timestamp() * 1000
        points.append([stamp, price(day)])
        day += timedelta(days=1)
    if now is not None:
        points.append([now.timestamp() * 1000, price(now.date())])
    return points


def cg_global(total_usd: float, btc: float | None, eth: float, updated_at: datetime) -> JsonObject:
    """Return a `/global` body in CoinGecko's wire shape."""
    return {
        "data": {
            "active_cryptocurrencies": 10801,
            "markets": 713,
            "total_market_cap": {"btc": 4.3e7, "eth": 6.3e8, "usd": total_usd},
            "total_volume": {"btc": 2.0e6, "usd": 6.2e10},
            "market_cap_percentage": {"btc": btc, "eth": eth, "usdt": 6.04},
            "market_cap_change_percentage_24h_usd": 3.28,
            "updated_at": int(updated_at.timestamp()),
        }
    }


def paprika_global(market_cap_usd: float, btc: float, last_updated: datetime) -> JsonObject:
    """Return a `/v1/global` body in CoinPaprika's wire shape."""
    return {
        "market_cap_usd": market_cap_usd,
        "volume_24h_usd": 9.0e10,
        "bitcoin_dominance_percentage": btc,
        "cryptocurrencies_number": 9176,
        "market_cap_ath_value": 3.6e12,
        "market_cap_ath_date": "2021-10-27T07:40:00Z",
        "market_cap_change_24h": 2.98,
        "volume_24h_change_24h": 3.26,
        "last_updated": int(last_updated.timestamp()),
    }


def paprika_ticker(coin_id: str, market_cap: float) -> JsonObject:
    """Return a `/v1/tickers/{id}` body in CoinPaprika's wire shape."""
    return {
        "id": coin_id,
        "name": "Ethereum",
        "symbol": "ETH",
        "rank": 2,
        "circulating_supply": 1.2e8,
        "total_supply": 1.2e8,
        "max_supply": 0,
        "last_updated": "2023-04-14T11:00:00Z",
        "quotes": {"USD": {"price": 2100.0, "volume_24h": 1.0e10, "market_cap": market_cap}},
    }


def yahoo_chart(
    symbol: str,
    bars: Sequence[tuple[datetime, float | None]],
    *,
    regular: tuple[datetime, datetime] | None,
    market_time: datetime,
    zone: str = "America/New_York",
    granularity: str = "1d",
) -> JsonObject:
    """Return a v8 chart body: `bars` are (bar timestamp, close) pairs, oldest first."""
    stamps = [int(at.timestamp()) for at, _ in bars]
    closes = [close for _, close in bars]
    meta: JsonObject = {
        "currency": "USD",
        "symbol": symbol,
        "exchangeName": "WCB",
        "instrumentType": "INDEX",
        "regularMarketTime": int(market_time.timestamp()),
        "gmtoffset": -18000,
        "timezone": "EST",
        "exchangeTimezoneName": zone,
        "regularMarketPrice": next((c for c in reversed(closes) if c is not None), None),
        "dataGranularity": granularity,
        "range": "",
        "validRanges": ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"],
    }
    if regular is not None:
        start, end = (int(at.timestamp()) for at in regular)
        meta["currentTradingPeriod"] = {
            "pre": {"timezone": "EST", "start": start - 19800, "end": start, "gmtoffset": -18000},
            "regular": {"timezone": "EST", "start": start, "end": end, "gmtoffset": -18000},
            "post": {"timezone": "EST", "start": end, "end": end + 14400, "gmtoffset": -18000},
        }
    result: JsonObject = {"meta": meta, "indicators": {"quote": [{}]}}
    if bars:
        result["timestamp"] = stamps
        result["indicators"] = {
            "quote": [
                {
                    "open": closes,
                    "high": closes,
                    "low": closes,
                    "close": closes,
                    "volume": [0] * len(closes),
                }
            ],
            "adjclose": [{"adjclose": closes}],
        }
    return {"chart": {"result": [result], "error": None}}
