"""The ccxt spot-price source against fake Binance and Kraken APIs, through ccxt's own clients."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from signals.payload import Payload
from signals.sources.exchange import ExchangePrices, make_exchange, rebase_urls, trend_of_completed
from signals.types import BadPayload, RateLimited, Sample, SourceUnavailable
from tests.fakes.exchange import BINANCE_451, ExchangeServer
from tests.fakes.feeds import CLOSED_URL, Reply

NOW = datetime(2024, 6, 30, 12, 0, tzinfo=UTC)
TODAY = NOW.date()
# Ticker closeTime the fake Binance sends; Kraken's ticker carries no time at all.
BINANCE_AT = datetime(2024, 6, 30, 12, 0, tzinfo=UTC)
Make = Callable[..., ExchangePrices]


def daily(closes: list[float], last: date = TODAY) -> list[tuple[date, float]]:
    """Return (day, close) pairs ending on `last`, oldest first."""
    first = last - timedelta(days=len(closes) - 1)
    return [(first + timedelta(days=i), close) for i, close in enumerate(closes)]


def by_metric(samples: tuple[Sample, ...]) -> dict[str, Sample]:
    return {s.metric: s for s in samples}


@pytest.fixture
async def fake() -> AsyncIterator[ExchangeServer]:
    async with ExchangeServer() as server:
        # 49 settled days at 0.04, one at 0.09, today's forming candle at 0.5 (never averaged),
        # plus one older day at 7.0 that falls outside the 50-day window.
        server.eth_btc_days = daily([7.0] + [0.04] * 49 + [0.09, 0.5])
        yield server


def sma_of_completed(candles: Payload, days: int, now: datetime) -> float | None:
    """Return the average the ETH/BTC trend is measured against."""
    trend = trend_of_completed(candles, days, now)
    return None if trend is None else trend.sma


def quick_exchange(exchange_id: str) -> Any:
    """Make the production exchange without ccxt's real-time sleeps, which tests never need."""
    # ccxt's throttle sleeps a second between Kraken calls, and close() waits for TLS to shut down.
    exchange = make_exchange(exchange_id, rate_limit=False)
    exchange.timeout_on_exit = 0
    return exchange


@pytest.fixture
async def make(fake: ExchangeServer) -> AsyncIterator[Make]:
    made: list[ExchangePrices] = []

    def build(
        primary: str = "binance", fallbacks: tuple[str, ...] = (), **kw: Any
    ) -> ExchangePrices:
        kw.setdefault("api_url", fake.url)
        kw.setdefault("factory", quick_exchange)
        source = ExchangePrices(primary, fallbacks, **kw)
        made.append(source)
        return source

    yield build
    for source in made:
        await source.close()


async def test_binance_prices_and_eth_btc_sma50(fake: ExchangeServer, make: Make) -> None:
    result = await make("binance").fetch(NOW)

    got = by_metric(result.samples)
    trend = got.pop("eth_btc_vs_sma50")
    assert {m: s.value for m, s in got.items()} == {
        "eth_btc": 0.05,
        "btc_usd": 60000.0,
        "eth_usd": 3000.0,
        "sol_usd": 150.0,
    }
    # (49 * 0.04 + 0.09) / 50 = 0.041
    assert got["eth_btc"].detail == (("sma50", "0.04100000"),)
    assert all(s.detail == () for m, s in got.items() if m != "eth_btc")
    assert {s.source for s in result.samples} == {"binance"}
    assert {s.at for s in got.values()} == {BINANCE_AT}
    # The last settled close, 0.09, against that average: 0.09 / 0.041 - 1 = 119.51 %.
    assert trend.value == pytest.approx(119.5121951)
    assert trend.detail == (("close", "0.09000000"), ("sma50", "0.04100000"))
    assert trend.at == datetime(2024, 6, 30, tzinfo=UTC)  # the 29 June candle closed at midnight
    tickers = [s for s in fake.seen if s.path == "/api/v3/ticker/24hr"]
    assert tickers[0].query["symbols"] == '["ETHBTC","BTCUSDT","ETHUSDT","SOLUSDT"]'
    klines = [s for s in fake.seen if s.path == "/api/v3/klines"]
    assert klines[0].query == {"symbol": "ETHBTC", "interval": "1d", "limit": "60"}


async def test_calls_per_refresh_cold_then_warm(fake: ExchangeServer, make: Make) -> None:
    binance = make("binance")
    await binance.fetch(NOW)
    assert fake.calls() == 3  # exchangeInfo (spot only), ticker/24hr, klines
    await binance.fetch(NOW)
    assert fake.calls() == 5

    kraken = make("kraken")
    await kraken.fetch(NOW)
    assert fake.calls("/0/") == 4  # Assets, AssetPairs, Ticker, OHLC
    await kraken.fetch(NOW)
    assert fake.calls("/0/") == 6


async def test_kraken_quotes_usd_and_stamps_now(fake: ExchangeServer, make: Make) -> None:
    result = await make("kraken").fetch(NOW)

    got = by_metric(result.samples)
    assert got["btc_usd"].value == 60100.0
    assert got["eth_btc"].value == 0.0501
    assert got["eth_btc"].detail == (("sma50", "0.04100000"),)
    assert {s.source for s in result.samples} == {"kraken"}
    assert {s.at for m, s in got.items() if m != "eth_btc_vs_sma50"} == {NOW}
    ticker = next(s for s in fake.seen if s.path == "/0/public/Ticker")
    assert ticker.query["pair"] == "XETHXXBT,XXBTZUSD,XETHZUSD,SOLUSD"


async def test_too_few_settled_days_leaves_out_the_average(
    fake: ExchangeServer, make: Make
) -> None:
    fake.eth_btc_days = daily([0.04] * 49 + [0.5])

    got = by_metric((await make("binance").fetch(NOW)).samples)

    assert got["eth_btc"].value == 0.05
    assert got["eth_btc"].detail == ()
    assert "eth_btc_vs_sma50" not in got


async def test_451_falls_back_with_one_warning_then_retries_primary_later(
    fake: ExchangeServer, make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    fake.refuse("binance", BINANCE_451)
    source = make("binance", ("kraken", "coinbase"), retry_primary_after=timedelta(hours=1))

    with caplog.at_level(logging.INFO, logger="signals.sources.exchange"):
        first = await source.fetch(NOW)
        second = await source.fetch(NOW + timedelta(minutes=59))

    assert {s.source for s in first.samples + second.samples} == {"kraken"}
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == [
        "Binance refuses this host's region (HTTP 451); set EXCHANGE=kraken or coinbase"
    ]
    assert fake.calls("/api/") == 1  # set aside after its 451, not asked again within the hour

    fake.refuse("binance", None)
    third = await source.fetch(NOW + timedelta(hours=1))

    assert {s.source for s in third.samples} == {"binance"}
    assert fake.calls("/api/") == 4


async def test_451_again_after_the_hour_does_not_warn_twice(
    fake: ExchangeServer, make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    fake.refuse("binance", BINANCE_451)
    source = make("binance", ("kraken",))

    with caplog.at_level(logging.INFO, logger="signals.sources.exchange"):
        await source.fetch(NOW)
        later = await source.fetch(NOW + timedelta(hours=2))

    assert {s.source for s in later.samples} == {"kraken"}
    assert fake.calls("/api/") == 2
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1


async def test_rate_limited_everywhere_is_rate_limited(fake: ExchangeServer, make: Make) -> None:
    too_many = Reply(
        429, {"code": -1003, "msg": "Too many requests."}, headers={"Retry-After": "30"}
    )
    fake.refuse("binance", too_many)
    fake.refuse("kraken", Reply(429, {"error": ["EAPI:Rate limit exceeded"]}))

    with pytest.raises(RateLimited) as caught:
        await make("binance", ("kraken",)).fetch(NOW)

    assert caught.value.retry_after == 30.0
    assert fake.calls("/api/") == 1
    assert fake.calls("/0/") == 1


async def test_server_error_on_primary_falls_back_and_primary_is_asked_next_time(
    fake: ExchangeServer, make: Make
) -> None:
    fake.queue("/api/v3/exchangeInfo", Reply(500, raw=b"oops", content_type="text/plain"))
    source = make("binance", ("kraken",))

    assert {s.source for s in (await source.fetch(NOW)).samples} == {"kraken"}
    assert {s.source for s in (await source.fetch(NOW)).samples} == {"binance"}


async def test_every_exchange_down_is_unavailable_naming_each(
    fake: ExchangeServer, make: Make
) -> None:
    fake.refuse("binance", Reply(503, raw=b"down", content_type="text/plain"))
    fake.refuse("kraken", Reply(502, raw=b"bad gateway", content_type="text/plain"))

    with pytest.raises(SourceUnavailable) as caught:
        await make("binance", ("kraken",)).fetch(NOW)

    assert "binance:" in caught.value.message
    assert "kraken:" in caught.value.message


@pytest.mark.parametrize("price", [None, 0.0])
async def test_null_or_zero_price_is_bad_payload(
    fake: ExchangeServer, make: Make, price: float | None
) -> None:
    fake.prices["binance"]["SOLUSDT"] = price

    with pytest.raises(BadPayload) as caught:
        await make("binance").fetch(NOW)

    assert caught.value.source == "binance"
    assert caught.value.field_name == "SOL/USDT.last"


async def test_bad_price_on_primary_falls_back(fake: ExchangeServer, make: Make) -> None:
    fake.prices["binance"]["BTCUSDT"] = 0.0

    result = await make("binance", ("kraken",)).fetch(NOW)

    assert by_metric(result.samples)["btc_usd"].value == 60100.0


async def test_html_page_instead_of_json_is_bad_payload(fake: ExchangeServer, make: Make) -> None:
    page = b"<html><body>Checking your browser</body></html>"
    fake.queue("/api/v3/ticker/24hr", Reply(200, raw=page, content_type="text/html"))

    with pytest.raises(BadPayload) as caught:
        await make("binance").fetch(NOW)

    assert caught.value.source == "binance"


async def test_truncated_json_is_bad_payload(fake: ExchangeServer, make: Make) -> None:
    body = b'[[1719532800000,"0.05000000","0.05000000","0.05'
    fake.queue("/api/v3/klines", Reply(200, raw=body))

    with pytest.raises(BadPayload) as caught:
        await make("binance").fetch(NOW)

    assert caught.value.source == "binance"


async def test_no_answer_within_the_timeout_is_unavailable_and_kraken_answers(
    fake: ExchangeServer, make: Make
) -> None:
    def impatient(exchange_id: str) -> Any:
        exchange = quick_exchange(exchange_id)
        exchange.timeout = 300  # milliseconds, as ccxt counts them
        return exchange

    fake.queue("/api/v3/exchangeInfo", Reply(hang=True))
    with pytest.raises(SourceUnavailable, match="RequestTimeout"):
        await make("binance", factory=impatient).fetch(NOW)

    fake.queue("/api/v3/exchangeInfo", Reply(hang=True))
    result = await make("binance", ("kraken",), factory=impatient).fetch(NOW)
    assert {s.source for s in result.samples} == {"kraken"}


async def test_a_refused_connection_gives_its_reason_not_only_the_url(make: Make) -> None:
    with pytest.raises(SourceUnavailable) as caught:
        await make("binance", api_url=CLOSED_URL).fetch(NOW)
    assert caught.value.message.startswith(
        "ExchangeNotAvailable: ClientConnectorError: Cannot connect to host 127.0.0.1:9"
    )
    assert "http://" not in caught.value.message


def test_unknown_exchange_id_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="nosuchexchange"):
        ExchangePrices("nosuchexchange", ())


def test_rebase_urls_swaps_scheme_and_host_and_keeps_paths() -> None:
    urls = {
        "public": "https://api.binance.com/api/v3",
        "nested": {"rest": "https://fapi.binance.com/fapi/v1?x=1", "plain": "wss"},
        "list": ["http://127.0.0.1:8080/a"],
        "count": 3,
    }

    assert rebase_urls(urls, "http://127.0.0.1:8080/ignored") == {
        "public": "http://127.0.0.1:8080/api/v3",
        "nested": {"rest": "http://127.0.0.1:8080/fapi/v1?x=1", "plain": "wss"},
        "list": ["http://127.0.0.1:8080/a"],
        "count": 3,
    }
    assert rebase_urls("https://api.kraken.com", "http://h:1") == "http://h:1"


def test_sma_skips_the_forming_day_and_needs_enough_days() -> None:
    day = 86_400_000
    start = int(datetime(2024, 6, 27, tzinfo=UTC).timestamp() * 1000)
    candles = [
        [start + i * day, 1.0, 1.0, 1.0, close, 5.0] for i, close in enumerate([2, 4, 6, 99])
    ]
    now = datetime(2024, 6, 30, 1, tzinfo=UTC)  # the candle at 99 opened an hour ago

    assert sma_of_completed(Payload("x", candles), 3, now) == 4.0
    assert sma_of_completed(Payload("x", candles), 2, now) == 5.0
    assert sma_of_completed(Payload("x", candles), 4, now) is None


async def test_eth_btc_history_is_read_once_a_page_at_a_time(
    fake: ExchangeServer, make: Make
) -> None:
    # 2,100 settled days (three pages of 1,000) and today's forming candle.
    closes = [round(0.02 + (i % 100) / 10_000, 8) for i in range(2_100)] + [0.5]
    fake.eth_btc_days = daily(closes)
    source = make("binance", history_since=date(2015, 1, 1))

    first = await source.fetch(NOW)

    pages = [s.query for s in fake.seen if s.path == "/api/v3/klines" and "startTime" in s.query]
    assert [p["limit"] for p in pages] == ["1000", "1000", "1000"]
    history = [s for s in first.history if s.metric == "eth_btc"]
    trends = [s for s in first.history if s.metric == "eth_btc_vs_sma50"]
    # Every settled close but the newest (the refresh's own samples carry that one).
    assert [s.value for s in history] == closes[:-2]
    assert history[0].at == datetime.combine(TODAY - timedelta(days=2_099), time(), UTC)
    # From the 50th close on, each against the mean of the 50 up to it.
    assert len(trends) == len(history) - 49
    at, window = trends[0].at, closes[:50]
    assert at == history[49].at
    assert trends[0].value == pytest.approx((closes[49] / (sum(window) / 50) - 1) * 100)
    assert trends[-1].value == pytest.approx((closes[-3] / (sum(closes[-52:-2]) / 50) - 1) * 100)
    # Once per process: the next refresh costs what it always did.
    seen = fake.calls()
    assert (await source.fetch(NOW)).history == ()
    assert fake.calls() == seen + 2
