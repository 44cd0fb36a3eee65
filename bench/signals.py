"""Print what the signal sources cost: ASI CPU time, and HTTP calls cold and warm.

Run: .venv/bin/python bench/signals.py
Everything runs in-process against the local fake feeds (127.0.0.1); pacing uses a fake clock,
so the cold start's pacing delay is reported, not waited for.
"""

from __future__ import annotations

import asyncio
import math
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from signals.asi import (
    altcoin_season,
    closes_frame,
    is_pegged,
    load_exclusions,
    publish,
    reference_closes,
    reference_day,
    select_universe,
)
from signals.dominance import GlobalMarket
from signals.history import InMemoryPriceHistory
from signals.market import MarketCoin
from signals.sources.coingecko import CoinGeckoClient, CoinGeckoMarkets
from signals.sources.coinpaprika import CoinPaprikaClient
from signals.sources.exchange import ExchangePrices, make_exchange
from signals.sources.farside import FarsideEtfFlows
from signals.sources.fred import FredClient, FredLiquidity
from signals.sources.futures import AltLongShort
from signals.sources.yahoo import YahooClient, YahooIndices
from signals.types import Sample, Source
from tests.fakes.exchange import BINANCE_451, ExchangeServer
from tests.fakes.feeds import (
    FeedServer,
    cg_coin,
    cg_daily_prices,
    cg_global,
    yahoo_chart,
)
from tests.fakes.futures import FuturesServer
from tests.fakes.macro import MacroServer, farside_page

NOW = datetime(2024, 6, 30, 12, 0, tzinfo=UTC)
COINS = 100
DAYS = 400
REPEATS = 50
STABLES = ("tether", "usd-coin", "dai", "staked-ether", "wrapped-bitcoin", "weth")


class FakeTime:
    """A monotonic clock that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def market(rng: random.Random) -> list[MarketCoin]:
    others = [*STABLES, *(f"coin{i:03d}" for i in range(COINS - 1 - len(STABLES)))]
    rng.shuffle(others)
    ids = ["bitcoin", *others]
    return [
        MarketCoin(coin, coin[:5], coin.title(), rank, rng.uniform(0.5, 2.0), 1e12 / rank, 1e8)
        for rank, coin in enumerate(ids, start=1)
    ]


def closes(rng: random.Random, coins: list[MarketCoin]) -> dict[str, dict[date, float]]:
    last = NOW.date() - timedelta(days=1)
    return {
        coin.id: {last - timedelta(days=n): rng.uniform(0.5, 2.0) for n in range(DAYS)}
        for coin in coins
    }


def asi_cpu() -> tuple[float, float, Sample]:
    rng = random.Random(7)
    coins = market(rng)
    stored = closes(rng, coins)
    rules = load_exclusions()
    symbols = {coin.id: coin.symbol for coin in coins}
    prices = {coin.id: coin.price for coin in coins}
    timings = []
    outcome = None
    for _ in range(REPEATS):
        start = time.process_time()
        universe = [coin.id for coin in select_universe(coins, rules, {})]
        # The peg check over each universe coin's last 93 closes (done once a day in the source).
        flat = [is_pegged(list(stored[coin].values())[:93]) for coin in universe]
        assert not any(flat)
        references = reference_closes(closes_frame(stored), reference_day(NOW))
        outcome = publish(altcoin_season(prices, references, universe), NOW, "bench", symbols)
        timings.append(time.process_time() - start)
    assert isinstance(outcome, Sample)
    return statistics.median(timings) * 1000, min(timings) * 1000, outcome


def script(feeds: FeedServer) -> None:
    rng = random.Random(11)
    coins = market(rng)
    feeds.markets = [cg_coin(c.id, c.price, c.market_cap, c.rank) for c in coins]
    # Every category the exclusions name, as a live refresh asks them.
    feeds.categories = {category: [] for category in load_exclusions().categories}
    feeds.categories["stablecoins"] = list(STABLES[:3])
    first = NOW.date() - timedelta(days=365)
    for coin in coins:
        # Wandering closes: a flat history would be excluded as pegged.
        phase = rng.uniform(0, 6.3)
        feeds.charts[coin.id] = cg_daily_prices(
            first, NOW.date(), lambda d, p=phase: 1.0 + 0.2 * math.sin(d.toordinal() / 9 + p), NOW
        )
    feeds.coingecko_global = cg_global(2.4e12, 54.0, 15.0, NOW)
    opens = [datetime(2024, 6, 3, 13, 30, tzinfo=UTC) + timedelta(days=d) for d in range(0, 26)]
    bars = [(at, 2000.0 + i) for i, at in enumerate(opens) if at.weekday() < 5]
    for symbol in ("^RUT", "^GSPC"):
        feeds.yahoo[symbol] = yahoo_chart(symbol, bars, regular=None, market_time=NOW)


async def calls() -> None:
    fake = FakeTime()
    async with FeedServer() as feeds, aiohttp.ClientSession() as session:
        script(feeds)
        coingecko = CoinGeckoClient(
            session, feeds.coingecko_url, clock=fake.clock, sleep=fake.sleep
        )
        asi = CoinGeckoMarkets(coingecko, InMemoryPriceHistory())
        sources: dict[str, Source] = {
            "asi (coingecko markets)": asi,
            "btc_dominance/total2/total3": GlobalMarket(
                coingecko, CoinPaprikaClient(session, feeds.url)
            ),
            "rut/rut_spx_streak (yahoo)": YahooIndices(YahooClient(session, feeds.url)),
        }
        print(f"{'source':32} {'cold start':>10} {'warm refresh':>13}")
        for name, source in sources.items():
            before = len(feeds.seen)
            await source.fetch(NOW)
            cold = len(feeds.seen) - before
            paced = fake.now
            before = len(feeds.seen)
            await source.fetch(NOW + timedelta(minutes=1))
            warm = len(feeds.seen) - before
            print(f"{name:32} {cold:>10} {warm:>13}")
            if source is asi:
                charts = sum(1 for s in feeds.seen if s.path.endswith("/market_chart"))
                categories = sum(1 for s in feeds.seen if "category" in s.query)
                listed = sum(1 for s in feeds.seen if s.path.endswith("/categories/list"))
                print(
                    f"  asi cold start = 1 ranking + {listed} category list + {categories} category"
                    f" + {charts} history calls;"
                    f" paced at {60 / coingecko.pacer.interval:.0f}/min it takes {paced:.1f} s"
                )


def quick(exchange_id: str) -> Any:
    # The bench counts calls; ccxt's own throttle would only add waiting.
    return make_exchange(exchange_id, rate_limit=False)


async def count(seen: Callable[[], int], source: Source, now: datetime) -> tuple[int, int]:
    before = seen()
    await source.fetch(now)
    cold = seen() - before
    before = seen()
    await source.fetch(now + timedelta(minutes=5))
    return cold, seen() - before


async def new_source_calls() -> None:
    """Count the calls of the sources issue 6 added, each against its own fake."""
    async with ExchangeServer() as exchange, MacroServer() as macro:
        exchange.eth_btc_days = [(NOW.date() - timedelta(days=n), 0.05) for n in range(60, -1, -1)]
        rows: list[tuple[str, int, int]] = []
        for chain in (("binance",), ("kraken",), ("binance", "kraken")):
            if chain == ("binance", "kraken"):
                exchange.refuse("binance", BINANCE_451)
            prices = ExchangePrices(chain[0], chain[1:], api_url=exchange.url, factory=quick)
            cold, warm = await count(lambda: len(exchange.seen), prices, NOW)
            await prices.close()
            label = " -> ".join(chain) + (" (451)" if len(chain) > 1 else "")
            rows.append((f"prices: {label}", cold, warm))
        weeks = [NOW.date() - timedelta(days=7 * n) for n in range(8, -1, -1)]
        for series in ("WALCL", "WTREGEN", "RRPONTSYD"):
            macro.fred[series] = [(d.isoformat(), "1000") for d in weeks]
        macro.farside = farside_page(("IBIT",), [(f"{NOW:%d %b %Y}", ("10.0",), "10.0")])
        async with aiohttp.ClientSession() as session:
            fred = FredLiquidity(FredClient(session, macro.url))
            rows.append(("net_liquidity (fred)", *await count(lambda: len(macro.seen), fred, NOW)))
            farside = FarsideEtfFlows(session, macro.url)
            flows = await count(lambda: len(macro.seen), farside, NOW)
            rows.append(("btc_etf_flow (farside)", *flows))
    forming = NOW.replace(minute=0, second=0, microsecond=0)
    async with FuturesServer(forming) as futures:
        bases = ["ETH", "SOL", "XRP", "BNB", "DOGE", "ADA", "AVAX", "LINK", "DOT", "TRX", "TON"]
        futures.list_perpetuals(bases)
        futures.ratios = {f"{b}USDT": 1.0 + i / 10 for i, b in enumerate(bases)}
        ranking = AltLongShort(lambda: bases, api_url=futures.url, factory=quick)
        rows.append(
            ("alt_long_short (binance)", *await count(lambda: len(futures.seen), ranking, NOW))
        )
        await ranking.close()
    for name, cold, warm in rows:
        print(f"{name:32} {cold:>10} {warm:>13}")
    print("alt_volume_ratio, altbtc_*       0 extra: the ASI's markets call and stored closes")
    print("risk_on                          0: read from the store")


def main() -> None:
    median, best, sample = asi_cpu()
    print(f"ASI over {COINS} coins x {DAYS} days of stored closes, {REPEATS} runs")
    print("(closes to frame, top-50 selection, reference closes, index and detail):")
    print(f"  CPU time per computation: median {median:.2f} ms, best {best:.2f} ms")
    print(f"  (value {sample.value:.1f}, {dict(sample.detail)['counted']} coins counted)")
    print()
    print("HTTP calls per refresh against the in-process fake feeds:")
    asyncio.run(calls())
    print(
        "  plus, once a day, one call for CoinGecko's category list and one per category in"
        f" asi_exclusions.json ({len(load_exclusions().categories)} today)"
    )
    asyncio.run(new_source_calls())


if __name__ == "__main__":
    main()
