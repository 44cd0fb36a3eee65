"""The `asi` source against the fake CoinGecko: call counts, back-fill, and bad answers."""

from __future__ import annotations

import logging
from datetime import date, timedelta

import aiohttp
import pytest

from signals.history import InMemoryPriceHistory
from signals.sources.coingecko import CoinGeckoClient, CoinGeckoMarkets
from signals.types import BadPayload, RateLimited, SourceUnavailable, Stale
from tests.fakes.feeds import FeedServer, Reply, cg_daily_prices
from tests.signals import scenario
from tests.signals.conftest import FakeTime

MARKETS = "/api/v3/coins/markets"


def chart(coin_id: str) -> str:
    return f"/api/v3/coins/{coin_id}/market_chart"


def ranking_calls(feeds: FeedServer) -> int:
    return sum(1 for s in feeds.seen if s.path == MARKETS and "category" not in s.query)


def category_calls(feeds: FeedServer) -> int:
    return sum(1 for s in feeds.seen if s.path == MARKETS and "category" in s.query)


def chart_calls(feeds: FeedServer) -> list[str]:
    return [s.path.split("/")[4] for s in feeds.seen if s.path.endswith("/market_chart")]


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
    with caplog.at_level(logging.INFO, "signals.sources.coingecko"):
        cold = await source.fetch(scenario.NOW)

    assert [s.value for s in cold.samples] == [scenario.EXPECTED_ASI]
    assert ranking_calls(feeds) == 1
    assert category_calls(feeds) == 5
    # Bitcoin and the 50 coins of the universe; never an excluded coin, never alt51.
    assert sorted(chart_calls(feeds)) == sorted(
        ["bitcoin", *(scenario.alt(i) for i in range(1, 51))]
    )
    assert len(feeds.seen) == 57
    # 57 calls at 25 a minute: every call after the first waited 2.4 s.
    assert sum(fake_time.sleeps) == pytest.approx(56 * 2.4)
    progress = [r.getMessage() for r in caplog.records if "back-fill" in r.getMessage()]
    assert progress[0].startswith("asi back-fill: fetching 365 days of closes for 51 coins")
    assert progress[1:] == [
        *(f"asi back-fill: {n}/51 coins done" for n in (10, 20, 30, 40, 50)),
        "asi back-fill: 51/51 coins done",
    ]
    # 366 midnight points are the closes of 2023-06-30 .. 2024-06-29; the noon point is dropped.
    assert store.days_stored("bitcoin") == 366
    assert store.days_stored("alt51") == 0

    before, reads = len(feeds.seen), store.reads
    warm = await source.fetch(scenario.NOW + timedelta(minutes=1))
    assert len(feeds.seen) - before == 1
    assert feeds.seen[-1].path == MARKETS and "category" not in feeds.seen[-1].query
    assert store.reads == reads  # reference closes are kept for the day
    assert [s.value for s in warm.samples] == [scenario.EXPECTED_ASI]


async def test_sample_carries_provider_time_and_the_coins_that_beat_bitcoin(
    client: CoinGeckoClient, store: InMemoryPriceHistory
) -> None:
    result = await CoinGeckoMarkets(client, store).fetch(scenario.NOW)
    (sample,) = result.samples
    assert sample.metric == "asi"
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
    assert [s.value for s in result.samples] == [scenario.EXPECTED_ASI]
    assert len(feeds.seen) - before == 6  # the ranking and five categories, no market_chart


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
    assert [s.value for s in result.samples] == [100 * 21 / 50]


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
    assert [s.value for s in first.samples] == [pytest.approx(100 * 19 / 49)]
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
    assert [s.value for s in result.samples] == [pytest.approx(100 * 20 / 49)]
    assert [r.getMessage() for r in caplog.records] == [
        "asi back-fill: no history for alt30: HTTP 404 for /coins/alt30/market_chart"
    ]
    before = len(feeds.seen)
    await source.fetch(scenario.NOW + timedelta(minutes=1))
    assert len(feeds.seen) - before == 1  # not asked again the same day


async def test_too_few_coins_with_history_is_stale_with_the_reason(
    feeds: FeedServer, client: CoinGeckoClient, store: InMemoryPriceHistory
) -> None:
    for i in range(45, 51):
        feeds.charts[scenario.alt(i)] = cg_daily_prices(
            date(2024, 6, 1), scenario.NOW.date(), lambda _: scenario.REFERENCE_PRICE
        )
    result = await CoinGeckoMarkets(client, store).fetch(scenario.NOW)
    assert result.samples == ()
    assert result.stale == (
        Stale("asi", "only 44 of 50 coins have 90 days of history (45 needed)"),
    )


async def test_rate_limit_mid_back_fill_raises_and_the_next_refresh_resumes(
    feeds: FeedServer, client: CoinGeckoClient, store: InMemoryPriceHistory
) -> None:
    feeds.queue(chart(scenario.alt(10)), Reply(429, {}, headers={"Retry-After": "60"}))
    source = CoinGeckoMarkets(client, store)
    with pytest.raises(RateLimited) as caught:
        await source.fetch(scenario.NOW)
    assert caught.value.retry_after == 60.0
    saved = chart_calls(feeds)
    assert saved[:10] == ["bitcoin", *(scenario.alt(i) for i in range(1, 10))]

    before = len(chart_calls(feeds))
    result = await source.fetch(scenario.NOW + timedelta(minutes=2))
    assert chart_calls(feeds)[before:] == [scenario.alt(i) for i in range(10, 51)]
    assert [s.value for s in result.samples] == [scenario.EXPECTED_ASI]


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
    (sample,) = result.samples
    assert "ALT03" not in dict(sample.detail) and "ALT51" in dict(sample.detail)
    assert sample.value == pytest.approx(100 * 19 / 49)
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 2
    assert skipped[0].startswith("coingecko: skipped alt03 in /coins/markets")


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
    assert category_calls(feeds) == 5

    feeds.queue(MARKETS, Reply(503, {}))  # the first category call of the next day fails
    result = await source.fetch(scenario.NOW + timedelta(days=1, minutes=1))
    assert [s.value for s in result.samples] == [scenario.EXPECTED_ASI]
    assert category_calls(feeds) == 6
    # Retried an hour later, not on every refresh.
    await source.fetch(scenario.NOW + timedelta(days=1, minutes=30))
    assert category_calls(feeds) == 6
    await source.fetch(scenario.NOW + timedelta(days=1, hours=1, minutes=2))
    assert category_calls(feeds) == 11


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


async def test_latest_markets_keep_the_ranking_for_volume_metrics(
    client: CoinGeckoClient, store: InMemoryPriceHistory
) -> None:
    source = CoinGeckoMarkets(client, store)
    ranking = source.latest_markets
    assert ranking == ()
    await source.fetch(scenario.NOW)
    ranking = source.latest_markets
    assert len(ranking) == len(scenario.ranking())
    assert ranking[0].volume_24h == 1.0e8
