"""The CoinGecko markets source against the fake CoinGecko: call counts, back-fill, bad answers,
and the metrics derived without a call of their own (alt/BTC MACD and RSI, the volume ratio)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta

import aiohttp
import pandas as pd
import pytest

from signals.history import InMemoryPriceHistory
from signals.indicators import macd, rsi
from signals.sources.coingecko import CoinGeckoClient, CoinGeckoMarkets
from signals.types import BadPayload, FetchResult, RateLimited, Sample, SourceUnavailable, Stale
from tests.fakes.clock import FakeTime
from tests.fakes.feeds import FeedServer, Reply, cg_coin, cg_daily_prices, cg_global
from tests.signals import scenario

MARKETS = "/api/v3/coins/markets"
CATEGORY_LIST = "/api/v3/coins/categories/list"
# Every category the exclusions name: one call each, once a day, after one call for the list.
CATEGORIES = len(scenario.CATEGORIES)
MACD = "altbtc_macd"
RSI = "altbtc_rsi"


def chart(coin_id: str) -> str:
    return f"/api/v3/coins/{coin_id}/market_chart"


def ranking_calls(feeds: FeedServer) -> int:
    return sum(1 for s in feeds.seen if s.path == MARKETS and "category" not in s.query)


def category_calls(feeds: FeedServer) -> int:
    return sum(1 for s in feeds.seen if s.path == MARKETS and "category" in s.query)


def list_calls(feeds: FeedServer) -> int:
    return sum(1 for s in feeds.seen if s.path == CATEGORY_LIST)


def chart_calls(feeds: FeedServer) -> list[str]:
    return [s.path.split("/")[4] for s in feeds.seen if s.path.endswith("/market_chart")]


def values(result: FetchResult, metric: str = "asi") -> list[float]:
    return [s.value for s in result.samples if s.metric == metric]


def only(result: FetchResult, metric: str) -> Sample:
    (sample,) = (s for s in result.samples if s.metric == metric)
    return sample


@pytest.fixture
def client(
    feeds: FeedServer, session: aiohttp.ClientSession, fake_time: FakeTime
) -> CoinGeckoClient:
    scenario.install(feeds)
    return CoinGeckoClient(
        session, feeds.coingecko_url, clock=fake_time.clock, sleep=fake_time.sleep
    )


@pytest.fixture
def store() -> InMemoryPriceHistory:
    return InMemoryPriceHistory()


async def test_cold_start_back_fills_paced_then_a_warm_refresh_is_one_call(
    feeds: FeedServer,
    client: CoinGeckoClient,
    store: InMemoryPriceHistory,
    fake_time: FakeTime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = CoinGeckoMarkets(client, store)
    told: list[str] = []
    source.on_progress = told.append
    with caplog.at_level(logging.INFO, "signals.sources.coingecko"):
        cold = await source.fetch(scenario.NOW)

    assert values(cold) == [scenario.EXPECTED_ASI]
    assert ranking_calls(feeds) == 1
    assert (list_calls(feeds), category_calls(feeds)) == (1, CATEGORIES) == (1, 13)
    # Bitcoin and the 50 coins of the universe; never an excluded coin, never alt51.
    assert sorted(chart_calls(feeds)) == sorted(
        ["bitcoin", *(scenario.alt(i) for i in range(1, 51))]
    )
    assert len(feeds.seen) == 66
    # 66 calls at 25 a minute: every call after the first waited 2.4 s.
    assert sum(fake_time.sleeps) == pytest.approx(65 * 2.4)
    progress = [r.getMessage() for r in caplog.records if "back-fill" in r.getMessage()]
    assert progress[0].startswith("asi back-fill: fetching 365 days of closes for 51 coins")
    assert progress[1:] == [
        *(f"asi back-fill: {n}/51 coins done" for n in (10, 20, 30, 40, 50)),
        "asi back-fill: 51/51 coins done",
    ]
    # Whoever waits (`python -m bot status`) is told every five coins, with the time left.
    assert told[0] == (
        "ASI back-fill: fetching 365 days of closes for 51 coins from CoinGecko, about 2 min "
        "at 25 calls/min"
    )
    assert told[1] == "ASI back-fill: 5/51 coins, about 2 min left"
    assert told[-2:] == ["ASI back-fill: 50/51 coins, about 2 s left", "ASI back-fill: 51/51 coins"]
    assert len(told) == 1 + 10 + 1
    # 366 midnight points are the closes of 2023-06-30 .. 2024-06-29; the noon point is dropped.
    assert store.days_stored("bitcoin") == 366
    assert store.days_stored("alt51") == 0

    before, reads = len(feeds.seen), store.reads
    warm = await source.fetch(scenario.NOW + timedelta(minutes=1))
    assert len(feeds.seen) - before == 1
    assert feeds.seen[-1].path == MARKETS and "category" not in feeds.seen[-1].query
    assert store.reads == reads  # reference closes are kept for the day
    assert values(warm) == [scenario.EXPECTED_ASI]


async def test_sample_carries_provider_time_and_the_coins_that_beat_bitcoin(
    client: CoinGeckoClient, store: InMemoryPriceHistory
) -> None:
    result = await CoinGeckoMarkets(client, store).fetch(scenario.NOW)
    sample = only(result, "asi")
    assert sample.at == scenario.NOW
    assert sample.source == "coingecko"
    winners = [key for key, _ in sample.detail[3:]]
    assert winners == [f"ALT{i:02d}" for i in range(20, 0, -1)]


async def test_restart_on_a_warm_store_fetches_no_history(
    feeds: FeedServer, client: CoinGeckoClient, store: InMemoryPriceHistory
) -> None:
    await CoinGeckoMarkets(client, store).fetch(scenario.NOW)
    before = len(feeds.seen)
    result = await CoinGeckoMarkets(client, store).fetch(scenario.NOW + timedelta(minutes=5))
    assert values(result) == [scenario.EXPECTED_ASI]
    # The ranking, the category list and each category; no market_chart.
    assert len(feeds.seen) - before == 2 + CATEGORIES


async def test_only_a_coin_new_to_the_top_50_is_back_filled(
    feeds: FeedServer, client: CoinGeckoClient, store: InMemoryPriceHistory
) -> None:
    source = CoinGeckoMarkets(client, store)
    await source.fetch(scenario.NOW)
    # alt51 (+50 %) overtakes alt50 (-10 %) the next morning.
    scenario.set_market_cap(feeds, "alt51", 1.0e12)
    before = len(feeds.seen)
    result = await source.fetch(scenario.NOW + timedelta(hours=20))
    assert chart_calls(feeds)[-1] == "alt51"
    assert len(feeds.seen) - before == 2  # the ranking, and alt51's history
    assert values(result) == [100 * 21 / 50]


async def test_a_coin_younger_than_90_days_is_missing_and_not_fetched_again(
    feeds: FeedServer, client: CoinGeckoClient, store: InMemoryPriceHistory
) -> None:
    young = scenario.alt(5)
    feeds.charts[young] = cg_daily_prices(
        date(2024, 5, 1), scenario.NOW.date(), lambda _: scenario.REFERENCE_PRICE
    )
    source = CoinGeckoMarkets(client, store)
    first = await source.fetch(scenario.NOW)
    # alt05 was one of the 20 winners; 19 of the 49 counted coins beat Bitcoin.
    assert values(first) == [pytest.approx(100 * 19 / 49)]
    assert dict(first.samples[0].detail)["counted"] == "49 of 50"

    before = len(feeds.seen)
    await source.fetch(scenario.NOW + timedelta(days=1))  # a new reference day
    assert young not in chart_calls(feeds)[before:]


async def test_a_coin_the_provider_cannot_serve_costs_one_coin_not_the_refresh(
    feeds: FeedServer,
    client: CoinGeckoClient,
    store: InMemoryPriceHistory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    del feeds.charts[scenario.alt(30)]  # 404 coin not found
    source = CoinGeckoMarkets(client, store)
    with caplog.at_level(logging.WARNING, "signals.sources.coingecko"):
        result = await source.fetch(scenario.NOW)
    assert values(result) == [pytest.approx(100 * 20 / 49)]
    assert [r.getMessage() for r in caplog.records] == [
        "asi back-fill: no history for alt30: HTTP 404 for /coins/alt30/market_chart"
    ]
    before = len(feeds.seen)
    await source.fetch(scenario.NOW + timedelta(minutes=1))
    assert len(feeds.seen) - before == 1  # not asked again the same day


async def test_history_missing_for_every_coin_logs_two_lines_not_one_per_coin(
    feeds: FeedServer,
    client: CoinGeckoClient,
    store: InMemoryPriceHistory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    feeds.charts.clear()  # every market_chart answers 404
    source = CoinGeckoMarkets(client, store)
    with caplog.at_level(logging.WARNING, "signals.sources.coingecko"):
        result = await source.fetch(scenario.NOW)
        await source.fetch(scenario.NOW + timedelta(minutes=1))
    assert values(result) == []
    # Once when the episode starts, once when the back-fill ends; the second refresh asks nobody.
    assert [r.getMessage() for r in caplog.records] == [
        "asi back-fill: no history for bitcoin: HTTP 404 for /coins/bitcoin/market_chart",
        "asi back-fill: no history for 51 coins of 51: bitcoin, alt01, alt02, alt03, alt04 "
        "and 46 more",
    ]


async def test_retry_after_holds_every_call_of_the_client_until_it_has_passed(
    feeds: FeedServer, client: CoinGeckoClient, store: InMemoryPriceHistory, fake_time: FakeTime
) -> None:
    feeds.coingecko_global = cg_global(2.5e12, 57.5, 12.0, scenario.NOW)
    feeds.queue(MARKETS, Reply(429, {}, headers={"Retry-After": "30"}))
    with pytest.raises(RateLimited) as caught:
        await client.markets()
    assert caught.value.retry_after == 30.0
    asked = len(feeds.seen)

    # Another source on the same client (dominance asks /global) is refused without a call.
    fake_time.now += 6
    with pytest.raises(RateLimited) as held:
        await client.global_totals()
    assert held.value.retry_after == pytest.approx(24.0)
    fake_time.now += 12
    with pytest.raises(RateLimited):
        await client.markets()
    assert len(feeds.seen) == asked

    fake_time.now += 12
    assert (await client.global_totals()).btc_percent == 57.5
    assert len(await client.markets()) > 50
    assert len(feeds.seen) == asked + 2


async def test_a_429_without_retry_after_holds_the_client_a_minute(
    feeds: FeedServer, client: CoinGeckoClient, fake_time: FakeTime
) -> None:
    feeds.queue(MARKETS, Reply(429, {}))
    with pytest.raises(RateLimited) as caught:
        await client.markets()
    assert caught.value.retry_after == 60.0
    fake_time.now += 59
    with pytest.raises(RateLimited):
        await client.markets()
    fake_time.now += 1
    assert len(await client.markets()) > 50


async def test_too_few_coins_with_history_is_stale_with_the_reason(
    feeds: FeedServer, client: CoinGeckoClient, store: InMemoryPriceHistory
) -> None:
    for i in range(45, 51):
        feeds.charts[scenario.alt(i)] = cg_daily_prices(
            date(2024, 6, 1), scenario.NOW.date(), lambda _: scenario.REFERENCE_PRICE
        )
    result = await CoinGeckoMarkets(client, store).fetch(scenario.NOW)
    assert values(result) == []
    assert [s for s in result.stale if s.metric == "asi"] == [
        Stale("asi", "only 44 of 50 coins have 90 days of history (45 needed)"),
    ]


async def test_rate_limit_mid_back_fill_raises_and_the_next_refresh_resumes(
    feeds: FeedServer, client: CoinGeckoClient, store: InMemoryPriceHistory, fake_time: FakeTime
) -> None:
    feeds.queue(chart(scenario.alt(10)), Reply(429, {}, headers={"Retry-After": "60"}))
    source = CoinGeckoMarkets(client, store)
    with pytest.raises(RateLimited) as caught:
        await source.fetch(scenario.NOW)
    assert caught.value.retry_after == 60.0
    saved = chart_calls(feeds)
    assert saved[:10] == ["bitcoin", *(scenario.alt(i) for i in range(1, 10))]

    fake_time.now += 60  # the poller waits out Retry-After
    before = len(chart_calls(feeds))
    result = await source.fetch(scenario.NOW + timedelta(minutes=2))
    assert chart_calls(feeds)[before:] == [scenario.alt(i) for i in range(10, 51)]
    assert values(result) == [scenario.EXPECTED_ASI]


async def test_bitcoin_priced_zero_raises_bad_payload(
    feeds: FeedServer, client: CoinGeckoClient, store: InMemoryPriceHistory
) -> None:
    scenario.set_price(feeds, "bitcoin", 0)
    with pytest.raises(BadPayload) as caught:
        await CoinGeckoMarkets(client, store).fetch(scenario.NOW)
    assert caught.value.field_name == "bitcoin.current_price"


async def test_an_altcoin_priced_zero_or_null_is_skipped_and_logged_once(
    feeds: FeedServer,
    client: CoinGeckoClient,
    store: InMemoryPriceHistory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    scenario.set_price(feeds, scenario.alt(3), 0)
    scenario.set_price(feeds, scenario.alt(4), None)
    source = CoinGeckoMarkets(client, store)
    with caplog.at_level(logging.WARNING, "signals.sources.coingecko"):
        result = await source.fetch(scenario.NOW)
        await source.fetch(scenario.NOW + timedelta(minutes=1))
    # alt03 and alt04 (winners) drop out; alt51 (winner) and nothing else moves in: 19 of 49.
    sample = only(result, "asi")
    assert "ALT03" not in dict(sample.detail) and "ALT51" in dict(sample.detail)
    assert sample.value == pytest.approx(100 * 19 / 49)
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert skipped == [
        "coingecko: skipped 2 coins in /coins/markets (no rank, or no positive price or cap): "
        "alt03 (rank 5, price 0, cap 200000000000.0), "
        "alt04 (rank 6, price None, cap 166666666666.66666)"
    ]


async def test_rate_limit_reported_in_the_body_is_rate_limited(
    feeds: FeedServer, client: CoinGeckoClient, store: InMemoryPriceHistory
) -> None:
    body = {"status": {"error_code": 429, "error_message": "You've exceeded the Rate Limit."}}
    feeds.queue(MARKETS, Reply(200, body))
    with pytest.raises(RateLimited):
        await CoinGeckoMarkets(client, store).fetch(scenario.NOW)


async def test_html_instead_of_the_ranking_is_a_bad_payload(
    feeds: FeedServer, client: CoinGeckoClient, store: InMemoryPriceHistory
) -> None:
    source = CoinGeckoMarkets(client, store)
    await source.fetch(scenario.NOW)
    feeds.queue(MARKETS, Reply(raw=b"<html>Attention Required! | Cloudflare</html>"))
    with pytest.raises(BadPayload, match="not JSON"):
        await source.fetch(scenario.NOW + timedelta(minutes=1))


async def test_ranking_entry_missing_its_id_names_the_field(
    feeds: FeedServer, client: CoinGeckoClient, store: InMemoryPriceHistory
) -> None:
    source = CoinGeckoMarkets(client, store)
    await source.fetch(scenario.NOW)
    del feeds.markets[3]["id"]
    with pytest.raises(BadPayload) as caught:
        await source.fetch(scenario.NOW + timedelta(minutes=1))
    assert caught.value.field_name == "$[3].id"


async def test_category_failure_on_a_cold_start_raises(
    feeds: FeedServer, client: CoinGeckoClient, store: InMemoryPriceHistory
) -> None:
    feeds.queue(MARKETS, Reply(503, {}))
    with pytest.raises(SourceUnavailable):
        await CoinGeckoMarkets(client, store).fetch(scenario.NOW)


async def test_categories_refresh_daily_and_a_failed_refresh_keeps_the_old_list(
    feeds: FeedServer, client: CoinGeckoClient, store: InMemoryPriceHistory
) -> None:
    source = CoinGeckoMarkets(client, store)
    await source.fetch(scenario.NOW)
    await source.fetch(scenario.NOW + timedelta(hours=23))
    assert (list_calls(feeds), category_calls(feeds)) == (1, CATEGORIES)

    feeds.queue(MARKETS, Reply(503, {}))  # the first category call of the next day fails
    result = await source.fetch(scenario.NOW + timedelta(days=1, minutes=1))
    assert values(result) == [scenario.EXPECTED_ASI]
    assert (list_calls(feeds), category_calls(feeds)) == (2, CATEGORIES + 1)
    # Retried an hour later, not on every refresh.
    await source.fetch(scenario.NOW + timedelta(days=1, minutes=30))
    assert (list_calls(feeds), category_calls(feeds)) == (2, CATEGORIES + 1)
    await source.fetch(scenario.NOW + timedelta(days=1, hours=1, minutes=2))
    assert (list_calls(feeds), category_calls(feeds)) == (3, 2 * CATEGORIES + 1)


async def test_first_refresh_after_midnight_stores_yesterdays_close(
    feeds: FeedServer, client: CoinGeckoClient, store: InMemoryPriceHistory
) -> None:
    source = CoinGeckoMarkets(client, store)
    await source.fetch(scenario.NOW)
    scenario.set_price(feeds, "alt51", 123.0)
    just_after = scenario.NOW.replace(hour=0, minute=0, second=30) + timedelta(days=1)
    await source.fetch(just_after)
    saved = await store.closes("alt51", scenario.NOW.date())
    assert saved == {scenario.NOW.date(): 123.0}
    scenario.set_price(feeds, "alt51", 456.0)
    await source.fetch(just_after + timedelta(minutes=1))
    assert await store.closes("alt51", scenario.NOW.date()) == {scenario.NOW.date(): 123.0}


async def test_demo_key_is_sent_in_its_header(
    feeds: FeedServer, session: aiohttp.ClientSession, fake_time: FakeTime
) -> None:
    scenario.install(feeds)
    keyed = CoinGeckoClient(
        session, feeds.coingecko_url, "demo-key", clock=fake_time.clock, sleep=fake_time.sleep
    )
    coins = await keyed.markets()
    assert feeds.seen[-1].headers["x-cg-demo-api-key"] == "demo-key"
    assert keyed.pacer.interval == pytest.approx(2.0)
    assert coins[0].id == "bitcoin" and coins[0].price == pytest.approx(110.0)


# --- altbtc_macd / altbtc_rsi ----------------------------------------------------------------

LAST_CLOSE = scenario.NOW.date() - timedelta(days=1)


def btc_usd(k: int) -> float:
    return 100.0 + k


def alt_a_in_btc(k: int) -> float:
    # Up 1 % a day in BTC for 30 days, then down 1 % a day.
    return 0.1 * 1.01 ** min(k, 29) * 0.99 ** max(k - 29, 0)


def expected_index(n: int) -> list[float]:
    # Caps 3:1, alt-b flat in BTC: each day's step is (3 * alt-a's move + 1 * 1) / 4.
    levels = [100.0]
    for k in range(1, n):
        move = alt_a_in_btc(k) / alt_a_in_btc(k - 1)
        levels.append(levels[-1] * (3 * move + 1) / 4)
    return levels


def small_market(feeds: FeedServer, n: int) -> list[date]:
    """Script Bitcoin, alt-a, alt-b (caps 3:1) and tether with `n` daily closes up to yesterday.

    Bitcoin's USD close moves every day and alt-b's with it, so alt-b is flat only in BTC;
    tether is excluded, so its flat USD price must not enter the index.
    """
    days = [LAST_CLOSE - timedelta(days=n - 1 - k) for k in range(n)]
    usd = {
        "bitcoin": btc_usd,
        "alt-a": lambda k: alt_a_in_btc(k) * btc_usd(k),
        "alt-b": lambda k: 0.5 * btc_usd(k),
        "tether": lambda k: 1.0,
    }
    caps = {"bitcoin": 1.0e12, "tether": 1.0e11, "alt-a": 3.0e9, "alt-b": 1.0e9}
    feeds.categories = {category: [] for category in scenario.CATEGORY_NAMES}
    feeds.categories["stablecoins"] = ["tether"]
    feeds.category_names = dict(scenario.CATEGORY_NAMES)
    feeds.markets = [
        cg_coin(coin, usd[coin](n), cap, rank, symbol=coin.replace("-", ""))
        for rank, (coin, cap) in enumerate(caps.items(), start=1)
    ]
    for coin, price in usd.items():
        # The point stamped 00:00 UTC on day D is the close of D - 1.
        feeds.charts[coin] = cg_daily_prices(
            days[0] + timedelta(days=1),
            scenario.NOW.date(),
            lambda stamp, price=price: price((stamp - days[0]).days - 1),
            scenario.NOW,
        )
    return days


@pytest.fixture
def small_client(
    feeds: FeedServer, session: aiohttp.ClientSession, fake_time: FakeTime
) -> CoinGeckoClient:
    return CoinGeckoClient(
        session, feeds.coingecko_url, clock=fake_time.clock, sleep=fake_time.sleep
    )


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), UTC)


async def test_altbtc_goes_out_as_history_then_the_newest_day(
    feeds: FeedServer, small_client: CoinGeckoClient, store: InMemoryPriceHistory
) -> None:
    days = small_market(feeds, 45)
    index = pd.Series(expected_index(45), index=pd.DatetimeIndex(days))
    hand_hist = macd(index)["histogram"].dropna()
    hand_rsi = rsi(index).dropna()

    source = CoinGeckoMarkets(small_client, store)
    result = await source.fetch(scenario.NOW)

    assert sorted(chart_calls(feeds)) == ["alt-a", "alt-b", "bitcoin"]
    assert [s.metric for s in result.stale] == ["asi"]  # two alts are too few for the ASI
    history = {m: [s for s in result.history if s.metric == m] for m in (MACD, RSI)}
    newest = {m: only(result, m) for m in (MACD, RSI)}
    # MACD needs 34 index days, RSI 15: 12 and 31 readings, all but the newest as history.
    assert len(history[MACD]) == 11 and len(history[RSI]) == 30
    assert [s.at for s in result.history] == sorted(s.at for s in result.history)
    for metric, hand in ((MACD, hand_hist), (RSI, hand_rsi)):
        published = [*history[metric], newest[metric]]
        assert [s.at for s in published] == [midnight(d.date()) for d in hand.index]
        assert [s.value for s in published] == pytest.approx(hand.tolist(), rel=1e-9)
        assert newest[metric].at == midnight(LAST_CLOSE)
        assert newest[metric].source == "coingecko"
    # The index by hand: 100, x1.0075 a day while alt-a rises 1 %, x0.9925 once it falls.
    levels = [float(dict(s.detail)["index"]) for s in history[RSI]]
    assert levels[0] == pytest.approx(100 * 1.0075**14, abs=1e-4)
    assert float(dict(newest[RSI].detail)["index"]) == pytest.approx(
        100 * 1.0075**29 * 0.9925**15, abs=1e-4
    )
    assert newest[MACD].value < 0 < newest[RSI].value < 50

    warm = await source.fetch(scenario.NOW + timedelta(minutes=1))
    assert warm.history == ()
    assert [s.value for s in warm.samples if s.metric == MACD] == pytest.approx(
        hand_hist.tolist()[-5:], rel=1e-9
    )
    assert len([s for s in warm.samples if s.metric == RSI]) == 5


async def test_altbtc_is_stale_while_warming_up(
    feeds: FeedServer, small_client: CoinGeckoClient, store: InMemoryPriceHistory
) -> None:
    small_market(feeds, 20)
    result = await CoinGeckoMarkets(small_client, store).fetch(scenario.NOW)
    assert Stale(MACD, "warming up: 20 of 34 days of alt/BTC history") in result.stale
    assert len(values(result, RSI)) == 1  # RSI(14) needs 15 days only

    small_market(feeds, 10)
    result = await CoinGeckoMarkets(small_client, InMemoryPriceHistory()).fetch(scenario.NOW)
    assert Stale(MACD, "warming up: 10 of 34 days of alt/BTC history") in result.stale
    assert Stale(RSI, "warming up: 10 of 15 days of alt/BTC history") in result.stale


class CountingHistory(InMemoryPriceHistory):
    """Records every closes read as (coin, since)."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[tuple[str, date]] = []

    async def closes(self, coin_id: str, since: date) -> dict[date, float]:
        self.asked.append((coin_id, since))
        return await super().closes(coin_id, since)


async def test_altbtc_is_computed_once_per_day_and_universe(
    feeds: FeedServer, small_client: CoinGeckoClient
) -> None:
    small_market(feeds, 45)
    history = CountingHistory()
    source = CoinGeckoMarkets(small_client, history)
    window_start = LAST_CLOSE - timedelta(days=199)

    await source.fetch(scenario.NOW)
    assert sorted(c for c, since in history.asked if since == window_start) == [
        "alt-a",
        "alt-b",
        "bitcoin",
    ]
    history.asked.clear()
    for minutes in (1, 2, 3):
        await source.fetch(scenario.NOW + timedelta(minutes=minutes))
    assert history.asked == []

    # Just after midnight the ranking's prices become yesterday's closes: one more index day.
    after_midnight = midnight(scenario.NOW.date() + timedelta(days=1)) + timedelta(minutes=30)
    result = await source.fetch(after_midnight)
    assert sorted(c for c, since in history.asked if since == window_start + timedelta(1)) == [
        "alt-a",
        "alt-b",
        "bitcoin",
    ]
    assert only_last(result, MACD).at == midnight(scenario.NOW.date())

    # A coin entering the universe changes the index's weights: computed again the same day.
    history.asked.clear()
    feeds.markets.append(cg_coin("alt-c", 5.0, 2.0e9, 5))
    feeds.charts["alt-c"] = feeds.charts["alt-b"]
    await source.fetch(after_midnight + timedelta(minutes=1))
    assert sorted(c for c, since in history.asked if since == window_start + timedelta(1)) == [
        "alt-a",
        "alt-b",
        "alt-c",
        "bitcoin",
    ]


def only_last(result: FetchResult, metric: str) -> Sample:
    return [s for s in result.samples if s.metric == metric][-1]


# --- alt_volume_ratio ------------------------------------------------------------------------


def script_chart_volumes(feeds: FeedServer, volume: float | None, days: int = 366) -> None:
    first = scenario.NOW.date() - timedelta(days=days - 1)
    for coin_id, _ in scenario.ranking():
        feeds.chart_volumes[coin_id] = cg_daily_prices(
            first, scenario.NOW.date(), lambda _: volume, scenario.NOW
        )


async def test_volume_ratio_from_seeded_days_and_the_ranking(
    feeds: FeedServer, client: CoinGeckoClient, store: InMemoryPriceHistory
) -> None:
    # Each alt traded 2e8 a day in the back-filled history and 1e8 in the last 24 h: 50 of them.
    script_chart_volumes(feeds, 2.0e8)
    source = CoinGeckoMarkets(client, store)
    result = await source.fetch(scenario.NOW)
    sample = only(result, "alt_volume_ratio")
    assert sample.value == pytest.approx(5.0e9 / 1.0e10)
    assert sample.at == scenario.NOW and sample.source == "coingecko"
    assert sample.detail == (
        ("volume_usd", "5000000000"),
        ("mean_30d_usd", "10000000000"),
        ("days", "30"),
    )
    stored = await store.daily_values("alt_volume_usd", date(2024, 1, 1))
    # 40 seeded days (2024-05-21 .. 06-29) and today's reading; excluded coins never counted.
    assert len(stored) == 41 and min(stored) == date(2024, 5, 21)
    assert stored[scenario.NOW.date()] == 5.0e9
    assert set(stored.values()) == {5.0e9, 1.0e10}

    # Later the same day: today's value is replaced, the past is not read again.
    for entry in feeds.markets:
        entry["total_volume"] = 3.0e8
    reads = store.series_reads
    later = await source.fetch(scenario.NOW + timedelta(hours=2))
    assert values(later, "alt_volume_ratio") == [pytest.approx(1.5)]
    assert store.series_reads == reads
    stored = await store.daily_values("alt_volume_usd", scenario.NOW.date())
    assert stored == {scenario.NOW.date(): 1.5e10}


async def test_volume_ratio_collects_30_days_first(
    feeds: FeedServer, client: CoinGeckoClient, store: InMemoryPriceHistory
) -> None:
    # Volumes known for the last 20 closed days only (older points are null): the points
    # stamped 06-11 .. 06-30 are the days 06-10 .. 06-29.
    first = date(2024, 6, 11)
    for coin_id, _ in scenario.ranking():
        feeds.chart_volumes[coin_id] = cg_daily_prices(
            date(2023, 7, 1), scenario.NOW.date(), lambda d: 1e8 if d >= first else None
        )
    result = await CoinGeckoMarkets(client, store).fetch(scenario.NOW)
    assert Stale("alt_volume_ratio", "collecting: 20 of 30 days of volume") in result.stale
    assert values(result) == [scenario.EXPECTED_ASI]


class BrokenSeries(InMemoryPriceHistory):
    """Closes work; the daily series store is down."""

    async def save_daily_values(self, series: str, values: Mapping[date, float]) -> None:
        raise ConnectionError("database is locked")


async def test_a_broken_series_store_costs_the_volume_ratio_not_the_asi(
    client: CoinGeckoClient, caplog: pytest.LogCaptureFixture
) -> None:
    source = CoinGeckoMarkets(client, BrokenSeries())
    with caplog.at_level(logging.WARNING, "signals.sources.coingecko"):
        result = await source.fetch(scenario.NOW)
        again = await source.fetch(scenario.NOW + timedelta(minutes=1))
    for outcome in (result, again):
        assert values(outcome) == [scenario.EXPECTED_ASI]
        assert values(outcome, "altbtc_rsi")  # flat prices: an index at 100, RSI 100
        assert outcome.stale == (
            Stale("alt_volume_ratio", "failed: ConnectionError: database is locked"),
        )
    # Logged with its traceback once, not on every refresh.
    assert [r.getMessage() for r in caplog.records] == ["coingecko: alt_volume_ratio failed"]


async def test_every_metric_on_a_warm_refresh_costs_one_ranking_call(
    feeds: FeedServer, client: CoinGeckoClient, store: InMemoryPriceHistory
) -> None:
    source = CoinGeckoMarkets(client, store)
    await source.fetch(scenario.NOW)
    before = len(feeds.seen)
    warm = await source.fetch(scenario.NOW + timedelta(minutes=1))
    assert [s.path for s in feeds.seen[before:]] == [MARKETS]
    assert {s.metric for s in warm.samples} == {
        "asi",
        MACD,
        RSI,
        "altbtc_index",
        "alt_volume_ratio",
    }
    assert warm.stale == ()


async def test_alt_symbols_rank_the_universe_largest_first(
    feeds: FeedServer, client: CoinGeckoClient, store: InMemoryPriceHistory
) -> None:
    source = CoinGeckoMarkets(client, store)
    assert source.alt_symbols() == ()
    await source.fetch(scenario.NOW)
    assert source.alt_symbols() == tuple(f"ALT{i:02d}" for i in range(1, 51))
    scenario.set_market_cap(feeds, "alt51", 1.0e12)
    await source.fetch(scenario.NOW + timedelta(minutes=1))
    assert source.alt_symbols()[:2] == ("ALT51", "ALT01")
    assert "ALT50" not in source.alt_symbols()


async def test_daily_history_reads_closes_and_volumes_from_one_call(
    feeds: FeedServer, small_client: CoinGeckoClient
) -> None:
    stamps = [midnight(date(2024, 6, d)) for d in (28, 29, 30)]
    feeds.charts["alt-a"] = [[at.timestamp() * 1000, 2.0] for at in stamps]
    feeds.chart_volumes["alt-a"] = [
        [stamps[0].timestamp() * 1000, 5.0e6],
        [stamps[1].timestamp() * 1000, None],  # a day without volume
        [stamps[2].timestamp() * 1000, 0.0],
        [scenario.NOW.timestamp() * 1000, 9.9e9],  # the current 24 h, not a closed day
    ]
    daily = await small_client.daily_history("alt-a", 365)
    assert daily.closes == {date(2024, 6, d): 2.0 for d in (27, 28, 29)}
    assert daily.volumes == {date(2024, 6, 27): 5.0e6, date(2024, 6, 29): 0.0}
    assert feeds.calls(chart("alt-a")) == 1

    feeds.chart_volumes["alt-a"] = [["yesterday", 1.0]]  # type: ignore[list-item]
    daily = await small_client.daily_history("alt-a", 365)
    assert daily.volumes == {}
    assert len(daily.closes) == 3  # a bad volume array costs the volumes, not the closes


async def test_a_coin_swapping_in_and_out_of_the_universe_is_read_once(
    feeds: FeedServer, small_client: CoinGeckoClient
) -> None:
    small_market(feeds, 45)
    history = CountingHistory()
    source = CoinGeckoMarkets(small_client, history, universe_size=1)
    await source.fetch(scenario.NOW)  # universe: alt-a
    feeds.markets[3]["market_cap"] = 5.0e9  # alt-b overtakes alt-a
    await source.fetch(scenario.NOW + timedelta(minutes=1))
    history.asked.clear()
    feeds.markets[3]["market_cap"] = 1.0e9  # and falls back
    await source.fetch(scenario.NOW + timedelta(minutes=2))
    feeds.markets[3]["market_cap"] = 5.0e9
    await source.fetch(scenario.NOW + timedelta(minutes=3))
    assert history.asked == []


async def test_excluded_coins_carry_the_name_coingecko_lists_for_their_category(
    feeds: FeedServer, client: CoinGeckoClient, store: InMemoryPriceHistory
) -> None:
    assert feeds.category_names is not None
    feeds.category_names["stablecoins"] = "Stablecoins (USD and others)"
    source = CoinGeckoMarkets(client, store)
    await source.fetch(scenario.NOW)
    universe = source.asi_universe()
    assert universe is not None
    reasons = {e.id: e.reason for e in universe.excluded}
    assert reasons["new-dollar"] == "Stablecoins (USD and others)"
    assert reasons["mega-lst"] == "Liquid Staking Tokens"  # the list's name, as before
    assert reasons["bridged-thing"] == "the name says it is a bridged copy of another chain's token"


async def test_a_category_coingecko_no_longer_lists_is_skipped_with_a_warning(
    feeds: FeedServer,
    client: CoinGeckoClient,
    store: InMemoryPriceHistory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert feeds.category_names is not None
    del feeds.category_names["lp-tokens"]
    with caplog.at_level(logging.WARNING, "signals.sources.coingecko"):
        result = await CoinGeckoMarkets(client, store).fetch(scenario.NOW)
    assert values(result) == [scenario.EXPECTED_ASI]
    assert category_calls(feeds) == CATEGORIES - 1
    assert not any(s.query.get("category") == "lp-tokens" for s in feeds.seen)
    assert [r.getMessage() for r in caplog.records] == [
        "asi: CoinGecko no longer lists the excluded categories lp-tokens; skipped"
    ]


async def test_an_empty_category_list_is_a_failed_refresh_not_every_category_gone(
    feeds: FeedServer, client: CoinGeckoClient, store: InMemoryPriceHistory
) -> None:
    source = CoinGeckoMarkets(client, store)
    feeds.queue(CATEGORY_LIST, Reply(200, []))
    with pytest.raises(BadPayload, match="empty category list"):
        await source.fetch(scenario.NOW)
    assert category_calls(feeds) == 0

    await source.fetch(scenario.NOW + timedelta(minutes=1))
    feeds.queue(CATEGORY_LIST, Reply(200, []))
    # A day later the list comes back empty: yesterday's members stay excluded.
    result = await source.fetch(scenario.NOW + timedelta(days=1, minutes=2))
    assert values(result) == [scenario.EXPECTED_ASI]
    universe = source.asi_universe()
    assert universe is not None
    assert {e.id for e in universe.excluded} >= {"tether", "new-dollar", "mega-lst"}
