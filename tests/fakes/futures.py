"""A local fake of Binance USDⓈ-M futures, as ccxt's async `binanceusdm` client calls it.

Serves `GET /fapi/v1/exchangeInfo` (the contracts in `contracts`, in the wire shape ccxt's
`parse_market` reads) and `GET /futures/data/globalLongShortAccountRatio` (hourly points built
from `ratios`). Each answer carries `limit` hourly points, oldest first, the newest stamped
`forming` (the hour still running); the point before it holds the ratio set for the symbol, the
older ones hold `OLDER_RATIO`, and the forming one `FORMING_RATIO`, so a client that picks the
wrong point shows it. Bad answers can be queued for a whole path (`queue`) or for one symbol
(`queue_symbol`); every request is recorded in `seen`.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from tests.fakes.feeds import FeedServer, Reply

JsonObject = dict[str, Any]

EXCHANGE_INFO = "/fapi/v1/exchangeInfo"
LONG_SHORT = "/futures/data/globalLongShortAccountRatio"
FORMING_RATIO = 9.8765
OLDER_RATIO = 0.0123
# Binance's delivery date for perpetual contracts: 2100-12-25.
PERPETUAL_DELIVERY = 4133404800000
INVALID_SYMBOL = Reply(400, {"code": -1121, "msg": "Invalid symbol."})


def contract(
    base: str,
    *,
    quote: str = "USDT",
    status: str = "TRADING",
    contract_type: str = "PERPETUAL",
    market_id: str | None = None,
) -> JsonObject:
    """Return one `/fapi/v1/exchangeInfo` symbol entry in Binance's wire shape."""
    symbol = market_id or f"{base}{quote}"
    perpetual = contract_type == "PERPETUAL"
    return {
        "symbol": symbol,
        "pair": f"{base}{quote}",
        "contractType": contract_type,
        "deliveryDate": PERPETUAL_DELIVERY if perpetual else 1735286400000,
        "onboardDate": 1569398400000,
        "status": status,
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": base,
        "quoteAsset": quote,
        "marginAsset": quote,
        "pricePrecision": 4,
        "quantityPrecision": 1,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": ["Layer-1"],
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": "0.0010",
                "maxPrice": "200000",
                "tickSize": "0.0010",
            },
            {"filterType": "LOT_SIZE", "minQty": "0.1", "maxQty": "1000000", "stepSize": "0.1"},
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": "0.1",
                "maxQty": "100000",
                "stepSize": "0.1",
            },
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {"filterType": "MIN_NOTIONAL", "notional": "5"},
            {
                "filterType": "PERCENT_PRICE",
                "multiplierUp": "1.0500",
                "multiplierDown": "0.9500",
                "multiplierDecimal": "4",
            },
        ],
        "orderTypes": [
            "LIMIT",
            "MARKET",
            "STOP",
            "STOP_MARKET",
            "TAKE_PROFIT",
            "TAKE_PROFIT_MARKET",
            "TRAILING_STOP_MARKET",
        ],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
    }


class FuturesServer(FeedServer):
    """An aiohttp app on 127.0.0.1 (ephemeral port) speaking Binance USDⓈ-M's public API.

    Built on `FeedServer` for its request log, path queues and misbehaving replies (truncated
    bodies, hangs); it answers only Binance futures paths.
    """

    def __init__(self, forming: datetime) -> None:
        super().__init__()
        self.contracts: list[JsonObject] = []
        self.ratios: dict[str, float | str | None] = {}
        self.forming = forming
        self.timestamps_as_text = False
        self._by_symbol: dict[str, deque[Reply]] = defaultdict(deque)

    def list_perpetuals(self, bases: Sequence[str]) -> None:
        """Add a trading USDT perpetual for each base asset."""
        self.contracts.extend(contract(base) for base in bases)

    def queue_symbol(self, market_id: str, *replies: Reply) -> None:
        """Answer the next long/short requests for `market_id` with `replies`, in order."""
        self._by_symbol[market_id].extend(replies)

    def ratio_calls(self) -> list[str]:
        """Return the symbols of every long/short request, in order."""
        return [seen.query.get("symbol", "") for seen in self.seen if seen.path == LONG_SHORT]

    def _routes(self) -> Sequence[tuple[str, Callable[[web.Request, str], Reply]]]:
        return (
            (EXCHANGE_INFO, self._exchange_info),
            (LONG_SHORT, self._long_short),
        )

    def _exchange_info(self, request: web.Request, _: str) -> Reply:
        return Reply(
            body={
                "timezone": "UTC",
                "serverTime": int(self.forming.timestamp() * 1000),
                "futuresType": "U_MARGINED",
                "rateLimits": [
                    {
                        "rateLimitType": "REQUEST_WEIGHT",
                        "interval": "MINUTE",
                        "intervalNum": 1,
                        "limit": 2400,
                    },
                    {
                        "rateLimitType": "ORDERS",
                        "interval": "MINUTE",
                        "intervalNum": 1,
                        "limit": 1200,
                    },
                ],
                "exchangeFilters": [],
                "assets": [
                    {"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}
                ],
                "symbols": self.contracts,
            }
        )

    def _long_short(self, request: web.Request, _: str) -> Reply:
        market_id = request.query.get("symbol", "")
        queued = self._by_symbol.get(market_id)
        if queued:
            return queued.popleft()
        if request.query.get("period") != "1h":
            return Reply(
                400, {"code": -1130, "msg": "Data sent for parameter 'period' is not valid."}
            )
        if market_id not in self.ratios:
            return INVALID_SYMBOL
        limit = int(request.query.get("limit", "30"))
        closed = self.forming - timedelta(hours=1)
        points = [
            self._point(market_id, self.forming - timedelta(hours=age), OLDER_RATIO)
            for age in range(limit - 1, 1, -1)
        ]
        points.append(self._point(market_id, closed, self.ratios[market_id]))
        points.append(self._point(market_id, self.forming, FORMING_RATIO))
        return Reply(body=points[-limit:])

    def _point(self, market_id: str, start: datetime, ratio: float | str | None) -> JsonObject:
        stamp = int(start.timestamp() * 1000)
        # A scripted bad ratio goes out as given, with no account shares beside it.
        long_account: str | None = None
        short_account: str | None = None
        if isinstance(ratio, float):
            long_account = f"{ratio / (1 + ratio):.4f}"
            short_account = f"{1 / (1 + ratio):.4f}"
            ratio = f"{ratio:.4f}"
        return {
            "symbol": market_id,
            "longShortRatio": ratio,
            "longAccount": long_account,
            "shortAccount": short_account,
            "timestamp": str(stamp) if self.timestamps_as_text else stamp,
        }
