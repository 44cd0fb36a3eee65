"""CoinPaprika: the fallback for the market's total cap and Bitcoin dominance."""

from __future__ import annotations

from datetime import UTC, datetime

import aiohttp

from signals.http import DEFAULT_TIMEOUT, FeedClient
from signals.market import MarketTotals
from signals.payload import Payload

PROVIDER = "coinpaprika"
DEFAULT_URL = "https://api.coinpaprika.com"
ETHEREUM = "eth-ethereum"


class CoinPaprikaClient:
    """Typed calls to CoinPaprika's free v1 API."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str = DEFAULT_URL,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._feed = FeedClient(session, PROVIDER, base_url, timeout=timeout)

    async def _get(self, path: str) -> Payload:
        return Payload(PROVIDER, await self._feed.get_json(path))

    async def global_totals(self) -> MarketTotals:
        """Return the market's total cap and Bitcoin's share from `/v1/global`.

        CoinPaprika's global figures carry no Ether share, so `eth_percent` is None here.
        """
        body = await self._get("/v1/global")
        return MarketTotals(
            provider=PROVIDER,
            at=datetime.fromtimestamp(body["last_updated"].integer(), UTC),
            total_usd=body["market_cap_usd"].positive(),
            btc_percent=body["bitcoin_dominance_percentage"].percent(),
            eth_percent=None,
        )

    async def market_cap(self, coin_id: str = ETHEREUM) -> float:
        """Return one coin's market cap (USD) from `/v1/tickers/{id}`."""
        body = await self._get(f"/v1/tickers/{coin_id}")
        return body["quotes"]["USD"]["market_cap"].positive()
