"""A hand-built crypto market whose Altcoin Season Index is known: 40.

Bitcoin rose 10 % over 90 days. Fifty-one plain altcoins follow it in the ranking: alt01-alt20
rose more (50 % + i %), alt21 rose exactly 10 % (a tie, which does not beat Bitcoin), alt22-alt50
fell 10 %, and alt51, the first coin outside the top 50, rose 50 %. Seven coins that must be
excluded sit inside the top 50 and all doubled: four from the static list (tether, usd-coin,
staked-ether, wrapped-bitcoin), two caught only by CoinGecko's categories (new-dollar, mega-lst)
and one caught only by its name ("Bridged Thing"). Correct answer: 20 of 50 beat Bitcoin -> 40.
Counting the excluded coins, or alt51, or the tie, would give another number.

Every coin's daily closes hold at 100 up to the reference day and then move in a straight line
to the current price, so none of them is flat enough over the 90 days to count as pegged.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from signals.asi import load_exclusions, reference_day
from signals.market import MarketCoin
from tests.fakes.feeds import FeedServer, cg_coin, cg_daily_prices

NOW = datetime(2024, 6, 30, 12, 0, tzinfo=UTC)
REFERENCE_DAY = date(2024, 3, 31)
REFERENCE_PRICE = 100.0
EXCLUDED = (
    ("tether", "Tether"),
    ("usd-coin", "USDC"),
    ("staked-ether", "Lido Staked Ether"),
    ("wrapped-bitcoin", "Wrapped Bitcoin"),
    ("new-dollar", "New Dollar"),
    ("mega-lst", "Mega LST"),
    ("bridged-thing", "Bridged Thing"),
)
# Every category the exclusions name, as CoinGecko names it; only three have members here.
CATEGORY_NAMES = dict(load_exclusions().categories)
CATEGORIES = {category: [] for category in CATEGORY_NAMES} | {
    "stablecoins": ["tether", "usd-coin", "new-dollar"],
    "wrapped-tokens": ["wrapped-bitcoin"],
    "liquid-staking-tokens": ["staked-ether", "mega-lst"],
}
CATEGORY_MEMBERS = {
    coin: CATEGORY_NAMES[category] for category, members in CATEGORIES.items() for coin in members
}
EXPECTED_ASI = 40.0


def alt(i: int) -> str:
    return f"alt{i:02d}"


def change(coin_id: str) -> float:
    """Return the coin's 90-day change in this market."""
    if coin_id == "bitcoin":
        return 0.10
    if coin_id in {coin for coin, _ in EXCLUDED}:
        return 1.0
    i = int(coin_id[3:])
    if i <= 20:
        return 0.50 + i / 100
    if i == 21:
        return 0.10
    if i <= 50:
        return -0.10
    return 0.50


def ranking() -> list[tuple[str, str]]:
    """Return (id, name) by rank: Bitcoin, then alts with the excluded coins spread among them."""
    order = [("bitcoin", "Bitcoin")]
    excluded = list(EXCLUDED)
    for i in range(1, 52):
        order.append((alt(i), f"Alt Coin {i}"))
        if i % 4 == 1 and excluded:
            order.append(excluded.pop(0))
    return order


def coins(price_of: dict[str, float] | None = None) -> list[MarketCoin]:
    """Return the market as typed coins, market cap falling with rank."""
    result = []
    for rank, (coin_id, name) in enumerate(ranking(), start=1):
        price = REFERENCE_PRICE * (1 + change(coin_id))
        if price_of and coin_id in price_of:
            price = price_of[coin_id]
        result.append(MarketCoin(coin_id, coin_id, name, rank, price, 1.0e12 / rank, 1.0e8))
    return result


def path(coin_id: str, now: datetime = NOW) -> Callable[[date], float]:
    """Return the coin's `market_chart` price by stamp day: 100 until the reference close,
    then a straight line to the current price."""
    ref = reference_day(now)
    span = (now.date() - ref).days
    current = REFERENCE_PRICE * (1 + change(coin_id))

    def price(stamp: date) -> float:
        # The point stamped 00:00 UTC on day D is the close of D - 1.
        since_ref = (stamp - timedelta(days=1) - ref).days
        if since_ref <= 0:
            return REFERENCE_PRICE
        return REFERENCE_PRICE + (current - REFERENCE_PRICE) * min(since_ref / span, 1.0)

    return price


def install(feeds: FeedServer, now: datetime = NOW, history_days: int = 366) -> None:
    """Script the fake CoinGecko with this market: ranking, categories and a year of history."""
    feeds.markets = [
        cg_coin(c.id, c.price, c.market_cap, c.rank, symbol=c.symbol, name=c.name) for c in coins()
    ]
    feeds.categories = {name: list(members) for name, members in CATEGORIES.items()}
    feeds.category_names = dict(CATEGORY_NAMES)
    first = now.date() - timedelta(days=history_days - 1)
    for coin_id, _ in ranking():
        feeds.charts[coin_id] = cg_daily_prices(first, now.date(), path(coin_id, now), now)


def set_price(feeds: FeedServer, coin_id: str, price: float | None) -> None:
    for entry in feeds.markets:
        if entry["id"] == coin_id:
            entry["current_price"] = price


def set_market_cap(feeds: FeedServer, coin_id: str, market_cap: float) -> None:
    for entry in feeds.markets:
        if entry["id"] == coin_id:
            entry["market_cap"] = market_cap
