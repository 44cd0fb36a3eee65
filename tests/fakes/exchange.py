"""A local fake of Binance's and Kraken's public REST API, as ccxt's async clients call them.

Binance (spot markets only): `GET /api/v3/exchangeInfo`, `/api/v3/ticker/24hr?symbols=[...]`,
`/api/v3/klines`. Kraken: `GET /0/public/Assets`, `/0/public/AssetPairs`, `/0/public/Ticker`,
`/0/public/OHLC`. Both speak from one server, so one `EXCHANGE_API_URL` serves either exchange.
Set `prices` (per exchange, by market id; None sends a null price) and `eth_btc_days` (daily
ETH/BTC closes, oldest first), make an exchange answer every request with one reply (`refuse`),
or queue exact replies for a path. Every request is recorded in `seen`.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from typing import Any

from aiohttp import web

from tests.fakes.feeds import LocalServer, Reply, Seen

JsonObject = dict[str, Any]

BINANCE_MARKETS = {"BTCUSDT": ("BTC", "USDT"), "ETHUSDT": ("ETH", "USDT")}
BINANCE_MARKETS |= {"SOLUSDT": ("SOL", "USDT"), "ETHBTC": ("ETH", "BTC")}
# Kraken market id -> (base asset id, quote asset id); assets carry Kraken's X/Z prefixes.
KRAKEN_MARKETS = {"XXBTZUSD": ("XXBT", "ZUSD"), "XETHZUSD": ("XETH", "ZUSD")}
KRAKEN_MARKETS |= {"SOLUSD": ("SOL", "ZUSD"), "XETHXXBT": ("XETH", "XXBT")}
KRAKEN_ASSETS = {"XXBT": "XBT", "XETH": "ETH", "SOL": "SOL", "ZUSD": "USD"}

BINANCE_451 = Reply(
    451,
    {
        "code": 0,
        "msg": "Service unavailable from a restricted location according to 'b. Eligibility' in "
        "https://www.binance.com/en/terms. Please contact customer service if you believe you "
        "received this message in error.",
    },
)


class ExchangeServer(LocalServer):
    """An aiohttp app on 127.0.0.1 (ephemeral port) speaking Binance's and Kraken's public API."""

    def __init__(self) -> None:
        super().__init__()
        self.prices: dict[str, dict[str, float | None]] = {
            "binance": {"BTCUSDT": 60000.0, "ETHUSDT": 3000.0, "SOLUSDT": 150.0, "ETHBTC": 0.05},
            "kraken": {
                "XXBTZUSD": 60100.0,
                "XETHZUSD": 3010.0,
                "SOLUSD": 151.0,
                "XETHXXBT": 0.0501,
            },
        }
        self.eth_btc_days: list[tuple[date, float]] = []
        self.refusals: dict[str, Reply] = {}

    def refuse(self, exchange_id: str, reply: Reply | None) -> None:
        """Answer every request to `exchange_id` with `reply` (None: answer normally again)."""
        if reply is None:
            self.refusals.pop(exchange_id, None)
        else:
            self.refusals[exchange_id] = reply

    def calls(self, prefix: str = "/") -> int:
        """Count requests whose path starts with `prefix`."""
        return sum(1 for seen in self.seen if seen.path.startswith(prefix))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(Seen(request.path, dict(request.query), dict(request.headers)))
        exchange_id = "binance" if request.path.startswith("/api/") else "kraken"
        queued = self._queues.get(request.path)
        if queued:
            reply = queued.popleft()
        elif exchange_id in self.refusals:
            reply = self.refusals[exchange_id]
        else:
            reply = self._route(request)
        return await self._send(request, reply)

    def _route(self, request: web.Request) -> Reply:
        routes = {
            "/api/v3/exchangeInfo": self._binance_exchange_info,
            "/api/v3/ticker/24hr": self._binance_tickers,
            "/api/v3/klines": self._binance_klines,
            "/0/public/Assets": self._kraken_assets,
            "/0/public/AssetPairs": self._kraken_asset_pairs,
            "/0/public/Ticker": self._kraken_tickers,
            "/0/public/OHLC": self._kraken_ohlc,
        }
        route = routes.get(request.path)
        if route is None:
            return Reply(404, {"error": f"no route {request.path}"})
        return route(request)

    def _binance_exchange_info(self, request: web.Request) -> Reply:
        symbols = [
            {
                "symbol": market_id,
                "status": "TRADING",
                "baseAsset": base,
                "baseAssetPrecision": 8,
                "quoteAsset": quote,
                "quotePrecision": 8,
                "quoteAssetPrecision": 8,
                "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
                "icebergAllowed": True,
                "ocoAllowed": True,
                "isSpotTradingAllowed": True,
                "isMarginTradingAllowed": True,
                "filters": [
                    {
                        "filterType": "PRICE_FILTER",
                        "minPrice": "0.00000100",
                        "maxPrice": "1000000.00000000",
                        "tickSize": "0.00000100",
                    },
                    {
                        "filterType": "LOT_SIZE",
                        "minQty": "0.00010000",
                        "maxQty": "9000.00000000",
                        "stepSize": "0.00010000",
                    },
                ],
                "permissions": [],
                "permissionSets": [["SPOT", "MARGIN"]],
            }
            for market_id, (base, quote) in BINANCE_MARKETS.items()
        ]
        return Reply(
            body={
                "timezone": "UTC",
                "serverTime": 1719748800000,
                "rateLimits": [
                    {
                        "rateLimitType": "REQUEST_WEIGHT",
                        "interval": "MINUTE",
                        "intervalNum": 1,
                        "limit": 6000,
                    }
                ],
                "exchangeFilters": [],
                "symbols": symbols,
            }
        )

    def _binance_tickers(self, request: web.Request) -> Reply:
        wanted = json.loads(request.query.get("symbols", "[]")) or list(BINANCE_MARKETS)
        prices = self.prices["binance"]
        if any(market_id not in prices for market_id in wanted):
            return Reply(400, {"code": -1121, "msg": "Invalid symbol."})
        return Reply(body=[_binance_ticker(market_id, prices[market_id]) for market_id in wanted])

    def _binance_klines(self, request: web.Request) -> Reply:
        if request.query.get("symbol") != "ETHBTC" or request.query.get("interval") != "1d":
            return Reply(400, {"code": -1121, "msg": "Invalid symbol."})
        limit = int(request.query.get("limit", "500"))
        days = self.eth_btc_days[-limit:]
        start = request.query.get("startTime")
        if start is not None:
            # As Binance: the `limit` oldest candles opening at or after startTime.
            days = [(d, c) for d, c in self.eth_btc_days if _ms(d) >= int(start)][:limit]
        rows = []
        for day, close in days:
            opened = _ms(day)
            price = f"{close:.8f}"
            rows.append(
                [
                    opened,
                    price,
                    price,
                    price,
                    price,
                    "1000.00000000",
                    opened + 86_399_999,
                    "50.00000000",
                    1000,
                    "500.00000000",
                    "25.00000000",
                    "0",
                ]
            )
        return Reply(body=rows)

    def _kraken_assets(self, request: web.Request) -> Reply:
        result = {
            asset_id: {
                "aclass": "currency",
                "altname": altname,
                "decimals": 10 if asset_id != "ZUSD" else 4,
                "display_decimals": 5 if asset_id != "ZUSD" else 2,
                "status": "enabled",
            }
            for asset_id, altname in KRAKEN_ASSETS.items()
        }
        return Reply(body={"error": [], "result": result})

    def _kraken_asset_pairs(self, request: web.Request) -> Reply:
        result = {}
        for market_id, (base, quote) in KRAKEN_MARKETS.items():
            name = f"{KRAKEN_ASSETS[base]}/{KRAKEN_ASSETS[quote]}"
            result[market_id] = {
                "altname": name.replace("/", ""),
                "wsname": name,
                "aclass_base": "currency",
                "base": base,
                "aclass_quote": "currency",
                "quote": quote,
                "lot": "unit",
                "cost_decimals": 5,
                "pair_decimals": 5,
                "lot_decimals": 8,
                "lot_multiplier": 1,
                "leverage_buy": [2, 3],
                "leverage_sell": [2, 3],
                "fees": [[0, 0.4], [10000, 0.35]],
                "fees_maker": [[0, 0.25], [10000, 0.2]],
                "fee_volume_currency": "ZUSD",
                "margin_call": 80,
                "margin_stop": 40,
                "ordermin": "0.0001",
                "costmin": "0.5",
                "tick_size": "0.00001",
                "status": "online",
            }
        return Reply(body={"error": [], "result": result})

    def _kraken_tickers(self, request: web.Request) -> Reply:
        wanted = request.query.get("pair", "").split(",")
        prices = self.prices["kraken"]
        if any(market_id not in prices for market_id in wanted):
            return Reply(body={"error": ["EQuery:Unknown asset pair"]})
        result = {market_id: _kraken_ticker(prices[market_id]) for market_id in wanted}
        return Reply(body={"error": [], "result": result})

    def _kraken_ohlc(self, request: web.Request) -> Reply:
        market_id = request.query.get("pair", "")
        if market_id != "XETHXXBT" or request.query.get("interval") != "1440":
            return Reply(body={"error": ["EQuery:Unknown asset pair"]})
        # Kraken ignores any count and sends up to 720 candles, times in seconds.
        rows = []
        for day, close in self.eth_btc_days[-720:]:
            price = f"{close:.5f}"
            rows.append([_ms(day) // 1000, price, price, price, price, price, "12.50000000", 40])
        last = rows[-1][0] if rows else 0
        return Reply(body={"error": [], "result": {market_id: rows, "last": last}})


def _ms(day: date) -> int:
    return int(datetime.combine(day, time(), UTC).timestamp() * 1000)


def _binance_ticker(market_id: str, price: float | None) -> JsonObject:
    text = None if price is None else f"{price:.8f}"
    return {
        "symbol": market_id,
        "priceChange": "0.00000000",
        "priceChangePercent": "0.000",
        "weightedAvgPrice": text,
        "prevClosePrice": text,
        "lastPrice": text,
        "lastQty": "0.01000000",
        "bidPrice": text,
        "bidQty": "1.00000000",
        "askPrice": text,
        "askQty": "1.00000000",
        "openPrice": text,
        "highPrice": text,
        "lowPrice": text,
        "volume": "1000.00000000",
        "quoteVolume": "1000000.00000000",
        "openTime": 1719662400000,
        "closeTime": 1719748800000,
        "firstId": 1,
        "lastId": 1000,
        "count": 1000,
    }


def _kraken_ticker(price: float | None) -> JsonObject:
    text = None if price is None else f"{price:.5f}"
    return {
        "a": [text, "1", "1.000"],
        "b": [text, "2", "2.000"],
        "c": [text, "0.01000000"],
        "v": ["100.00000000", "1000.00000000"],
        "p": [text, text],
        "t": [100, 1000],
        "l": [text, text],
        "h": [text, text],
        "o": text,
    }
