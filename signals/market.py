"""Provider-neutral market data: one coin's row in a ranking, and the whole market's totals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class MarketCoin:
    """One coin in a market-cap ranking, as priced at refresh time (USD)."""

    id: str
    symbol: str
    name: str
    rank: int
    price: float
    market_cap: float
    volume_24h: float | None


@dataclass(frozen=True, slots=True)
class MarketTotals:
    """The whole crypto market's size and Bitcoin's and Ether's shares of it, per one provider."""

    provider: str
    at: datetime
    total_usd: float
    btc_percent: float
    eth_percent: float | None
