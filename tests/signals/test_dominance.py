"""Bitcoin dominance, TOTAL2 and TOTAL3: the arithmetic, and CoinGecko -> CoinPaprika fallback."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from signals.dominance import GlobalMarket, dominance_result
from signals.market import MarketTotals
from signals.sources.coingecko import CoinGeckoClient
from signals.sources.coinpaprika import CoinPaprikaClient
from signals.types import BadPayload, FetchResult, RateLimited, Sample, SourceUnavailable, Stale
from tests.fakes.clock import FakeTime
from tests.fakes.feeds import FeedServer, Reply, cg_global, paprika_global, paprika_ticker

UPDATED = datetime(2023, 4, 14, 12, 22, 39, tzinfo=UTC)
NOW = datetime(2023, 4, 14, 12, 25, tzinfo=UTC)
CG_GLOBAL = "/api/v3/global"


def values(result: FetchResult) -> dict[str, object]:
    """Return metric -> value, compared to 1e-12 relative (caps are products of floats)."""
    return {sample.metric: pytest.approx(sample.value, rel=1e-12) for sample in result.samples}


@pytest.fixture
def market(feeds: FeedServer, session: aiohttp.ClientSession, fake_time: FakeTime) -> GlobalMarket:
    feeds.coingecko_global = cg_global(2.0e12, 50.0, 17.5, UPDATED)
    feeds.paprika_global = paprika_global(1.6e12, 40.0, UPDATED)
    feeds.paprika_tickers["eth-ethereum"] = paprika_ticker("eth-ethereum", 2.4e11)
    coingecko = CoinGeckoClient(
        session, feeds.coingecko_url, clock=fake_time.clock, sleep=fake_time.sleep
    )
    return GlobalMarket(coingecko, CoinPaprikaClient(session, feeds.url))


def test_shares_become_caps_by_hand() -> None:
    # T = 2.0e12, BTC 50 %, ETH 17.5 %: BTC cap 1.0e12, ETH cap 3.5e11.
    result = dominance_result(MarketTotals("coingecko", UPDATED, 2.0e12, 50.0, 17.5))
    assert values(result) == {"btc_dominance": 50.0, "total2": 1.0e12, "total3": 6.5e11}
    assert {s.source for s in result.samples} == {"coingecko"}
    assert {s.at for s in result.samples} == {UPDATED}


def test_without_an_ether_share_total3_is_stale() -> None:
    result = dominance_result(MarketTotals("coinpaprika", UPDATED, 1.6e12, 40.0, None), "why")
    assert values(result) == {"btc_dominance": 40.0, "total2": 9.6e11}
    assert result.stale == (Stale("total3", "why"),)


@pytest.mark.parametrize(("btc", "eth"), [(100.0, None), (0.0, None), (60.0, 40.0), (60.0, -1.0)])
def test_impossible_shares_are_refused(btc: float, eth: float | None) -> None:
    with pytest.raises(BadPayload):
        dominance_result(MarketTotals("coingecko", UPDATED, 1.0e12, btc, eth))


async def test_coingecko_answers_in_one_call(feeds: FeedServer, market: GlobalMarket) -> None:
    result = await market.fetch(NOW)
    assert values(result) == {"btc_dominance": 50.0, "total2": 1.0e12, "total3": 6.5e11}
    assert [s.source for s in result.samples] == ["coingecko"] * 3
    assert [s.path for s in feeds.seen] == [CG_GLOBAL]


async def test_falls_back_to_coinpaprika_when_coingecko_fails(
    feeds: FeedServer, market: GlobalMarket, caplog: pytest.LogCaptureFixture
) -> None:
    feeds.queue(CG_GLOBAL, Reply(502, {}), Reply(502, {}))
    with caplog.at_level(logging.INFO, "signals.dominance"):
        result = await market.fetch(NOW)
        # Within five minutes CoinPaprika is not asked again; nothing new comes back.
        quiet = await market.fetch(NOW + timedelta(minutes=1))
    # T = 1.6e12, BTC 40 % (cap 6.4e11), ETH cap 2.4e11 from its ticker.
    assert values(result) == {"btc_dominance": 40.0, "total2": 9.6e11, "total3": 7.2e11}
    assert [s.source for s in result.samples] == ["coinpaprika"] * 3
    assert quiet == FetchResult()
    assert [s.path for s in feeds.seen] == [
        CG_GLOBAL,
        "/v1/global",
        "/v1/tickers/eth-ethereum",
        CG_GLOBAL,
    ]
    assert [r.getMessage() for r in caplog.records] == [
        "global market: coingecko failed (HTTP 502 for /global); using coinpaprika's figures "
        "instead"
    ]


async def test_a_null_share_from_coingecko_also_falls_back(
    feeds: FeedServer, market: GlobalMarket
) -> None:
    feeds.queue(CG_GLOBAL, Reply(body=cg_global(2.0e12, None, 17.5, UPDATED)))
    result = await market.fetch(NOW)
    assert values(result)["btc_dominance"] == 40.0


async def test_back_on_coingecko_once_it_answers(
    feeds: FeedServer, market: GlobalMarket, caplog: pytest.LogCaptureFixture
) -> None:
    feeds.queue(CG_GLOBAL, Reply(503, {}))
    await market.fetch(NOW)
    caplog.clear()
    with caplog.at_level(logging.INFO, "signals.dominance"):
        result = await market.fetch(NOW + timedelta(minutes=1))
    assert [s.source for s in result.samples] == ["coingecko"] * 3
    assert [r.getMessage() for r in caplog.records] == ["global market: coingecko answers again"]


async def test_ether_ticker_failure_leaves_total3_stale(
    feeds: FeedServer, market: GlobalMarket
) -> None:
    feeds.queue(CG_GLOBAL, Reply(503, {}))
    feeds.queue("/v1/tickers/eth-ethereum", Reply(500, {}))
    result = await market.fetch(NOW)
    assert values(result) == {"btc_dominance": 40.0, "total2": 9.6e11}
    assert result.stale == (
        Stale(
            "total3",
            "coinpaprika gave no Ether market cap: HTTP 500 for /v1/tickers/eth-ethereum",
        ),
    )


async def test_both_failing_raises_unavailable_naming_both(
    feeds: FeedServer, market: GlobalMarket, caplog: pytest.LogCaptureFixture
) -> None:
    feeds.queue(CG_GLOBAL, Reply(503, {}))
    feeds.queue("/v1/global", Reply(raw=b"<html>maintenance</html>", content_type="text/html"))
    with (
        caplog.at_level(logging.INFO, "signals.dominance"),
        pytest.raises(SourceUnavailable) as caught,
    ):
        await market.fetch(NOW)
    assert caught.value.message.startswith("coingecko: HTTP 503 for /global; coinpaprika: ")
    assert "not JSON" in caught.value.message
    # Nothing claims CoinPaprika's figures are in use: the error raised tells what happened.
    assert [r.getMessage() for r in caplog.records] == []
    # Once CoinPaprika answers, the switch is said once.
    feeds.queue(CG_GLOBAL, Reply(503, {}))
    with caplog.at_level(logging.INFO, "signals.dominance"):
        result = await market.fetch(NOW + timedelta(minutes=1))
    assert [s.source for s in result.samples] == ["coinpaprika"] * 3
    assert [r.getMessage() for r in caplog.records] == [
        "global market: coingecko failed (HTTP 503 for /global); using coinpaprika's figures "
        "instead"
    ]


async def test_both_rate_limited_raises_rate_limited_with_the_sooner_wait(
    feeds: FeedServer, market: GlobalMarket
) -> None:
    feeds.queue(CG_GLOBAL, Reply(429, {}, headers={"Retry-After": "60"}))
    feeds.queue("/v1/global", Reply(429, {}, headers={"Retry-After": "30"}))
    with pytest.raises(RateLimited) as caught:
        await market.fetch(NOW)
    assert caught.value.retry_after == 30.0


async def test_out_of_range_share_names_the_wire_field(
    feeds: FeedServer, session: aiohttp.ClientSession, fake_time: FakeTime
) -> None:
    feeds.coingecko_global = cg_global(2.0e12, 120.0, 17.5, UPDATED)
    client = CoinGeckoClient(
        session, feeds.coingecko_url, clock=fake_time.clock, sleep=fake_time.sleep
    )
    with pytest.raises(BadPayload) as caught:
        await client.global_totals()
    assert caught.value.field_name == "data.market_cap_percentage.btc"


async def test_zero_total_from_coinpaprika_names_the_wire_field(
    feeds: FeedServer, session: aiohttp.ClientSession
) -> None:
    feeds.paprika_global = paprika_global(0, 40.0, UPDATED)
    with pytest.raises(BadPayload) as caught:
        await CoinPaprikaClient(session, feeds.url).global_totals()
    assert caught.value.field_name == "market_cap_usd"


def test_samples_are_the_shared_type() -> None:
    result = dominance_result(MarketTotals("coingecko", UPDATED, 2.0e12, 50.0, 17.5))
    assert all(isinstance(s, Sample) for s in result.samples)
