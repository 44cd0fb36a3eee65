"""The `alt_long_short` source against a fake Binance USDⓈ-M API, through ccxt's own client."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from signals.sources.exchange import make_exchange
from signals.sources.futures import REGION_MESSAGE, AltLongShort, pick_perpetuals
from signals.types import BadPayload, FetchResult, RateLimited, Sample, SourceUnavailable
from tests.fakes.clock import FakeTime
from tests.fakes.exchange import BINANCE_451
from tests.fakes.feeds import CLOSED_URL, Reply
from tests.fakes.futures import (
    EXCHANGE_INFO,
    LONG_SHORT,
    FuturesServer,
    contract,
)
from timing import SlidingWindowLimiter

# 12:20 UTC: the 12:00 hour is still running, the 11:00 hour is the newest closed one.
NOW = datetime(2024, 6, 30, 12, 20, tzinfo=UTC)
FORMING = datetime(2024, 6, 30, 12, 0, tzinfo=UTC)
CLOSED = datetime(2024, 6, 30, 11, 0, tzinfo=UTC)
# TON trades only against USDC, PEPE and SHIB only as 1000x contracts (never picked, even
# by that name), LINK is settling.
RANKING = (
    *("ETH", "XRP", "BNB", "SOL", "TON", "DOGE", "ADA", "PEPE", "1000PEPE"),
    *("TRX", "LINK", "AVAX", "SHIB", "DOT", "BCH", "LTC", "NEAR"),
)
CHOSEN = ("ETH", "XRP", "BNB", "SOL", "DOGE", "ADA", "TRX", "AVAX", "DOT", "BCH")
RATIOS = {
    "ETH": 1.10,
    "XRP": 2.50,
    "BNB": 1.80,
    "SOL": 0.90,
    "DOGE": 3.20,
    "ADA": 1.40,
    "TRX": 1.25,
    "AVAX": 0.75,
    "DOT": 2.05,
    "BCH": 1.60,
    "LTC": 5.00,
    "NEAR": 6.00,
    "LINK": 7.00,
}
Make = Callable[..., AltLongShort]


def quick_exchange(exchange_id: str) -> Any:
    """Make the production exchange without ccxt's real-time throttle sleeps."""
    exchange = make_exchange(exchange_id, rate_limit=False)
    exchange.timeout_on_exit = 0
    return exchange


def only_sample(result: FetchResult) -> Sample:
    assert result.stale == ()
    assert len(result.samples) == 1
    return result.samples[0]


def only_stale_reason(result: FetchResult) -> str:
    assert result.samples == ()
    assert [s.metric for s in result.stale] == ["alt_long_short"]
    return result.stale[0].reason


def ratios_in(sample: Sample) -> dict[str, str]:
    return {key: value for key, value in sample.detail if key != "symbols"}


@pytest.fixture
async def fake() -> AsyncIterator[FuturesServer]:
    async with FuturesServer(FORMING) as server:
        server.list_perpetuals(
            ["BTC", "ETH", "XRP", "BNB", "SOL", "DOGE", "ADA", "TRX", "AVAX", "DOT", "BCH"]
        )
        server.list_perpetuals(["LTC", "NEAR"])
        server.contracts += [
            contract("TON", quote="USDC"),
            contract("1000PEPE"),
            contract("1000SHIB"),
            contract("LINK", status="SETTLING"),
            contract("ETH", contract_type="CURRENT_QUARTER", market_id="ETHUSDT_240927"),
        ]
        server.ratios = {f"{base}USDT": ratio for base, ratio in RATIOS.items()}
        server.ratios |= {"1000PEPEUSDT": 8.0, "1000SHIBUSDT": 8.5, "TONUSDC": 9.0}
        yield server


@pytest.fixture
async def make(fake: FuturesServer, fake_time: FakeTime) -> AsyncIterator[Make]:
    made: list[AltLongShort] = []

    def build(ranking: Sequence[str] = RANKING, **kw: Any) -> AltLongShort:
        kw.setdefault("api_url", fake.url)
        kw.setdefault("factory", quick_exchange)
        kw.setdefault("limiter", SlidingWindowLimiter(800, 300.0, fake_time.clock))
        source = AltLongShort(lambda: ranking, **kw)
        made.append(source)
        return source

    yield build
    for source in made:
        await source.close()


async def test_median_of_the_ten_largest_listed_alts(fake: FuturesServer, make: Make) -> None:
    sample = only_sample(await make().fetch(NOW))

    # Sorted: 0.75 0.90 1.10 1.25 1.40 | 1.60 1.80 2.05 2.50 3.20 -> (1.40 + 1.60) / 2
    assert sample.value == pytest.approx(1.50)
    assert sample.metric == "alt_long_short"
    assert sample.source == "binance-futures"
    assert sample.at == CLOSED
    assert sample.detail == (
        *((base, f"{RATIOS[base]:.4f}") for base in CHOSEN),
        ("symbols", "10"),
    )
    assert fake.ratio_calls() == [f"{base}USDT" for base in CHOSEN]
    asked = [s.query for s in fake.seen if s.path == LONG_SHORT]
    assert asked[0] == {"symbol": "ETHUSDT", "period": "1h", "limit": "3"}


def test_picks_follow_the_ranking_once_each_and_skip_the_unlisted() -> None:
    listed = {"ETH": "ETHUSDT", "SOL": "SOLUSDT", "ADA": "ADAUSDT"}

    picked = pick_perpetuals(["sol", "PEPE", "TON", " SOL", "ETH", "ADA"], listed, 2)

    assert [(p.base, p.market_id) for p in picked] == [("SOL", "SOLUSDT"), ("ETH", "ETHUSDT")]


async def test_string_timestamps_as_binance_documents_them(fake: FuturesServer, make: Make) -> None:
    fake.timestamps_as_text = True

    sample = only_sample(await make().fetch(NOW))

    assert sample.value == pytest.approx(1.50)
    assert sample.at == CLOSED


async def test_on_the_hour_the_hour_just_ended_counts(fake: FuturesServer, make: Make) -> None:
    # At 13:00 sharp Binance may already list the 13:00 hour; the 12:00 one has just closed.
    fake.forming = FORMING + timedelta(hours=1)

    sample = only_sample(await make().fetch(FORMING + timedelta(hours=1)))

    assert sample.at == FORMING
    assert sample.value == pytest.approx(1.50)


@pytest.mark.parametrize(
    ("failing", "median", "count"),
    [
        # 0.75 1.10 1.25 1.40 [1.60] 1.80 2.05 2.50 3.20
        (("SOL",), 1.60, "9"),
        # 0.75 0.90 1.10 1.25 | 1.80 2.05 2.50 3.20 -> (1.25 + 1.80) / 2
        (("BCH", "ADA"), 1.525, "8"),
    ],
)
async def test_a_failing_symbol_is_left_out_of_the_median(
    fake: FuturesServer, make: Make, failing: tuple[str, ...], median: float, count: str
) -> None:
    for base in failing:
        fake.queue_symbol(f"{base}USDT", Reply(503, raw=b"busy", content_type="text/plain"))

    sample = only_sample(await make().fetch(NOW))

    assert sample.value == pytest.approx(median)
    assert set(ratios_in(sample)) == set(CHOSEN) - set(failing)
    assert dict(sample.detail)["symbols"] == count
    assert len(fake.ratio_calls()) == 10  # a failure never stops the others being asked


BAD_ANSWERS = {
    "html": Reply(raw=b"<html><body>Please wait</body></html>", content_type="text/html"),
    "cut json": Reply(raw=b'[{"symbol":"SOLUSDT","longShortRatio":"0.9'),
    "dropped": Reply(body=[{"symbol": "SOLUSDT", "longShortRatio": "0.9000"}], truncate=12),
    "empty": Reply(body=[]),
    "5xx": Reply(502, raw=b"<html>Bad Gateway</html>", content_type="text/html"),
    "unknown symbol": Reply(400, {"code": -1121, "msg": "Invalid symbol."}),
}


@pytest.mark.parametrize("answer", BAD_ANSWERS.values(), ids=BAD_ANSWERS.keys())
async def test_a_bad_answer_skips_only_that_symbol(
    fake: FuturesServer, make: Make, answer: Reply
) -> None:
    fake.queue_symbol("SOLUSDT", answer)

    sample = only_sample(await make().fetch(NOW))

    assert "SOL" not in ratios_in(sample)
    assert sample.value == pytest.approx(1.60)


@pytest.mark.parametrize("ratio", [None, "abc", "", "NaN", "-1.2000"])
async def test_a_null_or_non_numeric_ratio_skips_the_symbol(
    fake: FuturesServer, make: Make, ratio: str | None
) -> None:
    fake.ratios["SOLUSDT"] = ratio

    sample = only_sample(await make().fetch(NOW))

    assert "SOL" not in ratios_in(sample)
    assert sample.value == pytest.approx(1.60)


async def test_a_symbol_that_stopped_reporting_is_skipped(fake: FuturesServer, make: Make) -> None:
    old = int((CLOSED - timedelta(hours=5)).timestamp() * 1000)
    point = {"symbol": "SOLUSDT", "longShortRatio": "0.9000", "timestamp": old}
    fake.queue_symbol("SOLUSDT", Reply(body=[point]))

    sample = only_sample(await make().fetch(NOW))

    assert "SOL" not in ratios_in(sample)


async def test_too_few_answers_is_stale_naming_each_failure(
    fake: FuturesServer, make: Make
) -> None:
    fake.queue_symbol("ETHUSDT", BAD_ANSWERS["html"])
    fake.queue_symbol("XRPUSDT", BAD_ANSWERS["cut json"])
    fake.queue_symbol("BNBUSDT", BAD_ANSWERS["empty"])
    fake.ratios["SOLUSDT"] = None
    fake.ratios["DOGEUSDT"] = "n/a"

    reason = only_stale_reason(await make().fetch(NOW))

    assert reason.startswith("only 5 of 10 symbols answered (need 6): ETH: ")
    for base in ("ETH", "XRP", "BNB", "SOL", "DOGE"):
        assert f"{base}: " in reason
    assert "'SOLUSDT[1].longShortRatio'" in reason
    assert "'n/a'" in reason
    assert "no closed 1h point among 0" in reason
    assert "http://" not in reason  # ccxt's URL noise is trimmed


async def test_no_answer_at_all_is_a_failed_refresh(fake: FuturesServer, make: Make) -> None:
    fake.queue(LONG_SHORT, *[Reply(503, raw=b"busy", content_type="text/plain")] * 10)

    with pytest.raises(SourceUnavailable, match="no symbol answered: ETH: ExchangeNotAvailable"):
        await make().fetch(NOW)


async def test_a_failure_names_its_class_what_was_fetched_and_why(
    fake: FuturesServer, make: Make
) -> None:
    fake.queue(LONG_SHORT, *[Reply(503, raw=b"busy", content_type="text/plain")] * 10)
    with pytest.raises(SourceUnavailable) as caught:
        await make().fetch(NOW)
    assert caught.value.message.startswith(
        "no symbol answered: ETH: ExchangeNotAvailable fetching the ETHUSDT long/short ratio: "
        "503 Service Unavailable busy; XRP: "
    )
    # ccxt words a refused connection as only its method and URL: the reason is beneath it.
    with pytest.raises(SourceUnavailable) as refused:
        await make(api_url=CLOSED_URL).fetch(NOW)
    assert refused.value.message.startswith(
        "ExchangeNotAvailable fetching the contract list (exchangeInfo): "
        "ClientConnectorError: Cannot connect to host 127.0.0.1:9"
    )


async def test_empty_ranking_waits_without_calling(fake: FuturesServer, make: Make) -> None:
    reason = only_stale_reason(await make(ranking=[]).fetch(NOW))

    assert reason == "waiting for the market-cap ranking"
    assert fake.seen == []


async def test_too_few_listed_perpetuals_is_stale(fake: FuturesServer, make: Make) -> None:
    reason = only_stale_reason(await make(ranking=["TON", "ETH", "PEPE", "SOL"]).fetch(NOW))

    assert reason == (
        "only 2 of 4 ranked altcoins have an active USDT perpetual on Binance (need 6)"
    )
    assert fake.ratio_calls() == []


async def test_429_is_rate_limited_with_retry_after_and_stops_asking(
    fake: FuturesServer, make: Make
) -> None:
    busy = {"code": -1003, "msg": "Too many requests; current limit is 1000 requests per 5 min."}
    fake.queue_symbol("XRPUSDT", Reply(429, busy, headers={"Retry-After": "120"}))

    with pytest.raises(RateLimited) as caught:
        await make().fetch(NOW)

    assert caught.value.retry_after == 120.0
    assert fake.ratio_calls() == ["ETHUSDT", "XRPUSDT"]


async def test_418_ban_is_rate_limited(fake: FuturesServer, make: Make) -> None:
    fake.queue(LONG_SHORT, Reply(418, {"code": -1003, "msg": "Way too many requests; IP banned"}))

    with pytest.raises(RateLimited) as caught:
        await make().fetch(NOW)

    assert caught.value.retry_after is None
    assert fake.ratio_calls() == ["ETHUSDT"]


@pytest.mark.parametrize(("path", "asked"), [(EXCHANGE_INFO, []), (LONG_SHORT, ["ETHUSDT"])])
async def test_451_says_there_is_no_fallback(
    fake: FuturesServer, make: Make, path: str, asked: list[str]
) -> None:
    fake.queue(path, BINANCE_451)

    with pytest.raises(SourceUnavailable) as caught:
        await make().fetch(NOW)

    assert caught.value.message == REGION_MESSAGE
    assert "refuses this host's region" in REGION_MESSAGE
    assert "no fallback" in REGION_MESSAGE
    assert "FUTURES_API_URL" in REGION_MESSAGE
    assert fake.ratio_calls() == asked  # every other symbol would be refused the same way


async def test_exchange_info_5xx_and_html_fail_the_cold_refresh(
    fake: FuturesServer, make: Make
) -> None:
    source = make()
    fake.queue(EXCHANGE_INFO, Reply(502, raw=b"Bad Gateway", content_type="text/plain"))
    with pytest.raises(SourceUnavailable, match="502"):
        await source.fetch(NOW)

    fake.queue(EXCHANGE_INFO, Reply(raw=b"<html>maintenance</html>", content_type="text/html"))
    with pytest.raises(BadPayload, match="exchangeInfo"):
        await source.fetch(NOW)

    assert only_sample(await source.fetch(NOW)).value == pytest.approx(1.50)
    assert fake.calls(EXCHANGE_INFO) == 3
    assert fake.ratio_calls() == [f"{base}USDT" for base in CHOSEN]


async def test_calls_per_refresh_cold_then_warm(fake: FuturesServer, make: Make) -> None:
    source = make()

    await source.fetch(NOW)
    assert fake.calls() == 11  # exchangeInfo + 10 ratios
    await source.fetch(NOW + timedelta(minutes=5))
    assert fake.calls() == 21  # 10 ratios
    assert fake.calls(EXCHANGE_INFO) == 1


async def test_listings_reload_once_a_day(fake: FuturesServer, make: Make) -> None:
    source = make()
    await source.fetch(NOW)
    fake.contracts = [c for c in fake.contracts if c["symbol"] != "DOTUSDT"]

    fake.forming += timedelta(hours=23)
    still = only_sample(await source.fetch(NOW + timedelta(hours=23)))
    assert "DOT" in ratios_in(still)
    assert fake.calls(EXCHANGE_INFO) == 1

    fake.forming += timedelta(hours=1)
    reloaded = only_sample(await source.fetch(NOW + timedelta(days=1)))
    assert "DOT" not in ratios_in(reloaded)
    assert "LTC" in ratios_in(reloaded)  # the next listed one in the ranking moves up
    assert fake.calls(EXCHANGE_INFO) == 2


async def test_a_failed_daily_reload_keeps_the_listings(
    fake: FuturesServer, make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    source = make()
    await source.fetch(NOW)
    fake.queue(EXCHANGE_INFO, Reply(503, raw=b"busy", content_type="text/plain"))
    fake.forming += timedelta(days=1)

    with caplog.at_level(logging.WARNING, logger="signals.sources.futures"):
        kept = only_sample(await source.fetch(NOW + timedelta(days=1)))

    assert kept.value == pytest.approx(1.50)
    assert ["reloading failed" in r.getMessage() for r in caplog.records] == [True]
    await source.fetch(NOW + timedelta(days=1, minutes=5))
    assert fake.calls(EXCHANGE_INFO) == 3  # retried on the next refresh, then kept


async def test_limiter_full_window_asks_fewer_without_sleeping(
    fake: FuturesServer, make: Make, fake_time: FakeTime
) -> None:
    source = make(limiter=SlidingWindowLimiter(17, 300.0, fake_time.clock))
    started = fake_time.now

    only_sample(await source.fetch(NOW))
    fake_time.now += 100
    capped = only_sample(await source.fetch(NOW))

    # 17 per window: 10 in the first refresh leave 7 for the second.
    assert len(fake.ratio_calls()) == 17
    assert dict(capped.detail)["symbols"] == "7"
    assert list(ratios_in(capped)) == list(CHOSEN[:7])
    # 0.75 0.90 1.10 [1.40] 1.80 2.50 3.20
    assert capped.value == pytest.approx(1.40)

    fake_time.now += 100
    with pytest.raises(RateLimited) as caught:
        await source.fetch(NOW)
    assert caught.value.retry_after == pytest.approx(100.0)  # the first ten leave at +300 s
    assert len(fake.ratio_calls()) == 17

    fake_time.now = started + 300
    assert only_sample(await source.fetch(NOW)).value == pytest.approx(1.50)
    assert len(fake.ratio_calls()) == 27
    assert fake_time.sleeps == []
    assert fake_time.now == started + 300


async def test_limiter_leaving_too_few_is_stale(
    fake: FuturesServer, make: Make, fake_time: FakeTime
) -> None:
    source = make(limiter=SlidingWindowLimiter(14, 300.0, fake_time.clock))
    await source.fetch(NOW)

    reason = only_stale_reason(await source.fetch(NOW))

    assert reason == (
        "only 4 of 10 symbols answered (need 6): DOGE, ADA, TRX, AVAX, DOT, BCH: "
        "not asked, 14 requests per 300 s already sent"
    )
    assert len(fake.ratio_calls()) == 14


def test_the_default_limiter_keeps_to_80_percent_of_binances_cap() -> None:
    limiter = AltLongShort(lambda: ()).limiter
    assert (limiter.limit, limiter.window) == (800, 300.0)
