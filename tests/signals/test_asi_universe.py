"""The ASI universe on a realistic late-2025 top 100: bridged, pegged and asset-backed coins out.

`data/coingecko_markets_top100_2025-11-20.json` is a `/coins/markets` page in CoinGecko's wire
shape with the coins of the top 100 of late November 2025 (prices and caps approximate). With the
five categories the ASI trusted before, eight coins that track something else stayed among its
50: two bridged USDT, sUSDS, BUIDL, USD1, Binance-Peg WETH, Falcon USDf and JLP. Bitcoin fell
20 % over the 90 days, so each of them would have "beaten" it.

The categories below hold what CoinGecko files under them (top members checked against its
`/coins/categories` payload of 2026-01-02); BUIDL and USD1 sit in none of the excluded ones, so
only their flat 90 days of closes keep them out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from signals.asi import (
    Exclusions,
    is_pegged,
    load_exclusions,
    reference_day,
    select_universe,
)
from signals.history import InMemoryPriceHistory
from signals.market import MarketCoin
from signals.sources.coingecko import CoinGeckoClient, CoinGeckoMarkets
from signals.universe import PEGGED
from tests.fakes.clock import FakeTime
from tests.fakes.feeds import FeedServer, cg_daily_prices

NOW = datetime(2025, 11, 20, 12, 0, tzinfo=UTC)
TOP100 = json.loads(
    (Path(__file__).parent / "data" / "coingecko_markets_top100_2025-11-20.json").read_text()
)
EXCLUSIONS = load_exclusions()
CATEGORIES = {
    "stablecoins": [
        "tether",
        "usd-coin",
        "usds",
        "dai",
        "ethena-usde",
        "paypal-usd",
        "global-dollar",
        "first-digital-usd",
        "usdtb",
        "ripple-usd",
    ],
    "yield-bearing-stablecoins": ["susds", "ethena-staked-usde"],
    "synthetic-dollar": ["ethena-usde", "falcon-finance"],
    "bridged-tokens": ["binance-bridged-usdt-bnb-smart-chain", "usdt0"],
    "binance-peg-tokens": ["binance-peg-weth"],
    "wrapped-tokens": ["wrapped-steth", "wrapped-bitcoin", "wrapped-beacon-eth", "weth"],
    "tokenized-btc": ["wrapped-bitcoin", "coinbase-wrapped-btc", "solv-btc", "lombard-staked-btc"],
    "liquid-staking-tokens": [
        "staked-ether",
        "wrapped-steth",
        "wrapped-beacon-eth",
        "jito-staked-sol",
        "binance-staked-sol",
        "rocket-pool-eth",
    ],
    "liquid-restaking-tokens": ["wrapped-eeth", "kelp-dao-restaked-eth", "lombard-staked-btc"],
    "tokenized-gold": ["tether-gold", "pax-gold"],
    "tokenized-t-bills": ["hashnote-usyc"],
    "tokenized-products": ["tether-gold", "pax-gold", "hashnote-usyc"],
    "lp-tokens": ["jupiter-perpetuals-liquidity-provider-token"],
}
OLD_FIVE = (
    "stablecoins",
    "wrapped-tokens",
    "liquid-staking-tokens",
    "liquid-restaking-tokens",
    "tokenized-gold",
)
BUIDL = "blackrock-usd-institutional-digital-liquidity-fund"
JLP = "jupiter-perpetuals-liquidity-provider-token"
LEFT_IN_BEFORE = {
    "binance-bridged-usdt-bnb-smart-chain": "Bridged-Tokens",
    "usdt0": "Bridged-Tokens",
    "susds": "Yield-Bearing Stablecoin",
    BUIDL: PEGGED,
    "usd1-wlfi": PEGGED,
    "binance-peg-weth": "Binance-Peg Tokens",
    "falcon-finance": "Synthetic Dollar",
    JLP: "LP Tokens",
}
# Closes within 0.15 % of $1 (USD1) or exactly $1 (BUIDL, a money-market fund's share).
FLAT = {BUIDL: 0.0, "usd1-wlfi": 0.0015}
# WLFI started trading on 1 Sep 2025: no close from 90 days back, so no change to count.
YOUNG = {"world-liberty-financial": date(2025, 9, 1)}
BITCOIN_CHANGE = -0.20
# Who beat Bitcoin's -20 %; every other coin of the universe fell 35 %, Litecoin 21 %.
CHANGES = {
    "bitcoin": BITCOIN_CHANGE,
    "zcash": 4.5,
    "memecore": 0.60,
    "monero": 0.10,
    "bitcoin-cash": 0.08,
    "whitebit": 0.05,
    "leo-token": 0.03,  # steady, but no peg: it wanders 6 % either side on the way
    "binancecoin": -0.05,
    "kucoin-shares": -0.08,
    "hyperliquid": -0.10,
    "tron": -0.12,
    "bittensor": -0.15,
    "okb": -0.18,
    "bitget-token": -0.19,
    "litecoin": -0.21,
}
DEFAULT_CHANGE = -0.35
# The 50 largest coins once Bitcoin, the categories, the listed coins and the pegged are out.
RIGHT_50 = [
    "ethereum",
    "ripple",
    "binancecoin",
    "solana",
    "tron",
    "dogecoin",
    "cardano",
    "hyperliquid",
    "bitcoin-cash",
    "zcash",
    "chainlink",
    "leo-token",
    "stellar",
    "whitebit",
    "monero",
    "litecoin",
    "hedera-hashgraph",
    "avalanche-2",
    "sui",
    "shiba-inu",
    "crypto-com-chain",
    "uniswap",
    "the-open-network",
    "polkadot",
    "world-liberty-financial",
    "mantle",
    "bittensor",
    "aave",
    "near",
    "internet-computer",
    "bitget-token",
    "okb",
    "memecore",
    "ethereum-classic",
    "aptos",
    "ethena",
    "pepe",
    "ondo-finance",
    "polygon-ecosystem-token",
    "kucoin-shares",
    "worldcoin-wld",
    "kaspa",
    "official-trump",
    "arbitrum",
    "cosmos",
    "algorand",
    "pump-fun",
    "sky",
    "vechain",
    "quant-network",
]
# 13 of the 49 coins with a 90-day change beat Bitcoin (WLFI has none).
EXPECTED_ASI = 100 * 13 / 49


def market() -> list[MarketCoin]:
    return [
        MarketCoin(
            c["id"],
            c["symbol"],
            c["name"],
            c["market_cap_rank"],
            c["current_price"],
            c["market_cap"],
            c["total_volume"],
        )
        for c in TOP100
    ]


def members(categories: tuple[str, ...] = tuple(CATEGORIES)) -> dict[str, str]:
    found: dict[str, str] = {}
    for category in EXCLUSIONS.categories:
        if category in categories:
            for coin in CATEGORIES[category]:
                found.setdefault(coin, EXCLUSIONS.categories[category])
    return found


def path(coin: dict[str, object]) -> Callable[[date], float]:
    """Return the coin's chart price by stamp day over the last year, as the fake serves it."""
    price = float(coin["current_price"])  # type: ignore[arg-type]
    coin_id = str(coin["id"])
    ref = reference_day(NOW)
    span = (NOW.date() - ref).days
    if coin_id in FLAT:
        wobble = FLAT[coin_id]
        return lambda stamp: 1.0 + wobble * math.sin(stamp.toordinal())
    change = CHANGES.get(coin_id, DEFAULT_CHANGE)
    start = price / (1 + change)

    def close(stamp: date) -> float:
        # The point stamped 00:00 UTC on day D is the close of D - 1.
        f = max((stamp - timedelta(days=1) - ref).days, 0) / span
        return start * (1 + change * f) * (1 + 0.06 * math.sin(3 * math.pi * f))

    return close


def install(feeds: FeedServer) -> None:
    feeds.markets = json.loads(json.dumps(TOP100))
    feeds.categories = dict(CATEGORIES)
    feeds.category_names = dict(EXCLUSIONS.categories)
    for coin in TOP100:
        first = YOUNG.get(str(coin["id"]), NOW.date() - timedelta(days=365))
        feeds.charts[str(coin["id"])] = cg_daily_prices(first, NOW.date(), path(coin), NOW)


@pytest.fixture
def client(
    feeds: FeedServer, session: aiohttp.ClientSession, fake_time: FakeTime
) -> CoinGeckoClient:
    install(feeds)
    return CoinGeckoClient(
        session, feeds.coingecko_url, clock=fake_time.clock, sleep=fake_time.sleep
    )


def test_the_five_categories_of_before_left_eight_trackers_in_the_top_50() -> None:
    before = Exclusions(
        {c: EXCLUSIONS.categories[c] for c in OLD_FIVE},
        EXCLUSIONS.coins,
        EXCLUSIONS.name_patterns,
    )
    universe = {coin.id for coin in select_universe(market(), before, members(OLD_FIVE))}
    assert set(LEFT_IN_BEFORE) <= universe


def test_categories_alone_leave_only_the_pegged_coins_the_data_must_catch() -> None:
    universe = [coin.id for coin in select_universe(market(), EXCLUSIONS, members())]
    assert [coin for coin in universe if coin in LEFT_IN_BEFORE] == ["usd1-wlfi", BUIDL]


@pytest.mark.parametrize(
    ("closes", "pegged"),
    [
        pytest.param([1.0] * 90, True, id="flat"),
        pytest.param([0.98, 1.02], True, id="the whole band"),
        pytest.param([0.979, 1.02], False, id="just wider"),
        pytest.param([1.0750, 1.0751, 1.0925], True, id="a yield token drifting up 1.6 %"),
        pytest.param([9.0, 9.31, 8.75], False, id="a steady coin"),
        pytest.param([], False, id="no close"),
        pytest.param([0.0, -1.0], False, id="no positive close"),
    ],
)
def test_pegged_means_every_close_within_2_percent_of_one_price(
    closes: list[float], pegged: bool
) -> None:
    assert is_pegged(closes) is pegged


async def test_each_tracker_is_excluded_with_its_category_or_as_pegged(
    client: CoinGeckoClient,
) -> None:
    source = CoinGeckoMarkets(client, InMemoryPriceHistory())
    await source.fetch(NOW)

    universe = source.asi_universe()
    assert universe is not None
    reasons = {e.id: e.reason for e in universe.excluded}
    assert {coin: reasons.get(coin) for coin in LEFT_IN_BEFORE} == LEFT_IN_BEFORE
    assert reasons["tether"] == "Stablecoins"
    assert reasons["coinbase-wrapped-btc"] == "Tokenized BTC"
    assert reasons["figure-heloc"] == "asset-backed: tokenized home-equity loans"
    # Only what ranks above the universe's last coin (Quant, 79th) is listed, by rank.
    assert [e.rank for e in universe.excluded] == sorted(e.rank for e in universe.excluded)
    assert max(e.rank for e in universe.excluded) < 79
    assert "hashnote-usyc" not in reasons  # 80th: never a candidate


async def test_the_index_is_counted_over_the_right_50(
    feeds: FeedServer, client: CoinGeckoClient
) -> None:
    source = CoinGeckoMarkets(client, InMemoryPriceHistory())
    result = await source.fetch(NOW)

    universe = source.asi_universe()
    assert universe is not None
    assert [coin.id for coin in universe.coins] == RIGHT_50
    (asi,) = (s for s in result.samples if s.metric == "asi")
    assert asi.value == pytest.approx(EXPECTED_ASI)
    assert universe.value == asi.value
    assert universe.bitcoin_change == pytest.approx(BITCOIN_CHANGE)
    changes = {coin.id: coin.change for coin in universe.coins}
    assert changes["world-liberty-financial"] is None
    assert changes["zcash"] == pytest.approx(4.5)
    assert changes["litecoin"] == pytest.approx(-0.21)
    assert len(universe.beat_bitcoin) == 13
    assert dict(asi.detail)["counted"] == "49 of 50"
    # History was fetched for Bitcoin, the 50 and the two pegged coins they pushed out.
    charts = sorted(s.path.split("/")[4] for s in feeds.seen if s.path.endswith("/market_chart"))
    assert charts == sorted(["bitcoin", *RIGHT_50, BUIDL, "usd1-wlfi"])


async def test_a_warm_refresh_keeps_the_universe_for_one_call(
    feeds: FeedServer, client: CoinGeckoClient
) -> None:
    source = CoinGeckoMarkets(client, InMemoryPriceHistory())
    await source.fetch(NOW)
    before = len(feeds.seen)

    await source.fetch(NOW + timedelta(minutes=5))

    assert len(feeds.seen) - before == 1
    universe = source.asi_universe()
    assert universe is not None
    assert universe.at == NOW + timedelta(minutes=5)
    assert [coin.id for coin in universe.coins] == RIGHT_50
    assert {e.id for e in universe.excluded if e.reason == PEGGED} == {BUIDL, "usd1-wlfi"}


def test_no_universe_before_the_first_refresh(client: CoinGeckoClient) -> None:
    assert CoinGeckoMarkets(client, InMemoryPriceHistory()).asi_universe() is None
