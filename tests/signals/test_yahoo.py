"""The `rut` and `rut_spx_streak` source against the fake Yahoo chart API."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from signals.http import HttpRefused
from signals.sources.yahoo import YahooClient, YahooIndices
from signals.types import BadPayload, RateLimited, Sample, Stale
from tests.fakes.feeds import FeedServer, Reply, yahoo_chart

NEW_YORK = ZoneInfo("America/New_York")
RUT = "/v8/finance/chart/^RUT"
SPX = "/v8/finance/chart/^GSPC"
MON, TUE, WED, THU, FRI = (date(2024, 3, 4) + timedelta(days=i) for i in range(5))


def ny(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), NEW_YORK).astimezone(UTC)


def chart(
    symbol: str, closes: dict[date, float | None], trading: date, market_time: datetime
) -> dict[str, object]:
    """Return a daily chart whose bars open at 09:30 New York, with `trading` as current session."""
    bars = [(ny(day, 9, 30), close) for day, close in closes.items()]
    period = (ny(trading, 9, 30), ny(trading, 16))
    return yahoo_chart(symbol, bars, regular=period, market_time=market_time)


def script(
    feeds: FeedServer,
    rut: dict[date, float | None],
    spx: dict[date, float | None],
    trading: date,
    now: datetime,
) -> None:
    feeds.yahoo["^RUT"] = chart("^RUT", rut, trading, now)
    feeds.yahoo["^GSPC"] = chart("^GSPC", spx, trading, now)


def points(samples: tuple[Sample, ...], metric: str) -> list[tuple[date, float]]:
    return [(s.at.astimezone(NEW_YORK).date(), s.value) for s in samples if s.metric == metric]


@pytest.fixture
def source(feeds: FeedServer, session: aiohttp.ClientSession) -> YahooIndices:
    return YahooIndices(YahooClient(session, feeds.url))


RUT_CLOSES: dict[date, float | None] = {MON: 100.0, TUE: 105.0, WED: 103.0}
SPX_CLOSES: dict[date, float | None] = {MON: 50.0, TUE: 50.5, WED: 50.5}


async def test_first_fetch_returns_full_history_and_the_newest_final_close(
    feeds: FeedServer, source: YahooIndices
) -> None:
    now = ny(THU, 13)  # Thursday's session is trading at 110
    script(feeds, {**RUT_CLOSES, THU: 110.0}, {**SPX_CLOSES, THU: 51.0}, THU, now)
    result = await source.fetch(now)

    assert points(result.history, "rut") == [(MON, 100.0), (TUE, 105.0)]
    assert points(result.samples, "rut") == [(WED, 103.0)]
    # Tuesday: +5 % vs +1 %, a beat (1); Wednesday: -1.9 % vs 0 %, a break (0).
    assert points(result.history, "rut_spx_streak") == [(TUE, 1.0)]
    assert points(result.samples, "rut_spx_streak") == [(WED, 0.0)]
    # 100 and 105 are each a new high (0); Wednesday's 103 closes one session after the high.
    assert points(result.history, "rut_sessions_since_high") == [(MON, 0.0), (TUE, 0.0)]
    assert points(result.samples, "rut_sessions_since_high") == [(WED, 1.0)]
    assert result.samples[0].at == datetime(2024, 3, 6, 21, 0, tzinfo=UTC)
    assert {s.source for s in result.samples + result.history} == {"yahoo"}
    assert [s.at for s in result.history] == sorted(s.at for s in result.history)
    full = [s for s in feeds.seen if s.path == RUT]
    assert full[0].query["period1"] == "-2208994789"
    assert full[0].query["period2"] == str(int(now.timestamp()))
    assert full[0].query["interval"] == "1d"
    assert full[0].headers["User-Agent"].startswith("Mozilla/5.0")


async def test_intraday_high_is_never_emitted_only_the_closing_high(
    feeds: FeedServer, source: YahooIndices
) -> None:
    script(feeds, {**RUT_CLOSES, THU: 110.0}, {**SPX_CLOSES, THU: 51.0}, THU, ny(THU, 13))
    emitted = list((await source.fetch(ny(THU, 13))).samples)

    # Later on Thursday the index trades at 112, above every close so far: still intraday, so
    # the newest close sent is still Wednesday's (sent again: the engine ignores repeats).
    script(feeds, {**RUT_CLOSES, THU: 112.0}, {**SPX_CLOSES, THU: 51.0}, THU, ny(THU, 15))
    intraday = await source.fetch(ny(THU, 15))
    assert points(intraday.samples, "rut")[-1] == (WED, 103.0)
    assert intraday.history == ()
    emitted += intraday.samples
    # Thursday closes at 104: that is the value, at 16:00 New York.
    script(feeds, {**RUT_CLOSES, THU: 104.0}, {**SPX_CLOSES, THU: 50.6}, FRI, ny(THU, 16, 20))
    thursday = await source.fetch(ny(THU, 16, 20))
    assert points(thursday.samples, "rut")[-1] == (THU, 104.0)
    assert thursday.samples[-1].at == datetime(2024, 3, 7, 21, 0, tzinfo=UTC)
    # +0.97 % vs +0.20 %: the streak restarts at 1.
    assert points(thursday.samples, "rut_spx_streak")[-1] == (THU, 1.0)
    assert points((await source.fetch(ny(THU, 16, 40))).samples, "rut")[-1] == (THU, 104.0)
    # Friday trades at 115 and closes at 106: a new closing high (above 105).
    script(
        feeds, {**RUT_CLOSES, THU: 104.0, FRI: 115.0}, SPX_CLOSES | {THU: 50.6}, FRI, ny(FRI, 12)
    )
    emitted += (await source.fetch(ny(FRI, 12))).samples
    rut_fri = {**RUT_CLOSES, THU: 104.0, FRI: 106.0}
    script(feeds, rut_fri, {**SPX_CLOSES, THU: 50.6, FRI: 50.7}, FRI, ny(FRI, 16, 30))
    friday = await source.fetch(ny(FRI, 16, 30))
    emitted += thursday.samples + friday.samples

    closes = dict(points(tuple(emitted), "rut"))
    assert closes == {MON: 100.0, TUE: 105.0, WED: 103.0, THU: 104.0, FRI: 106.0}
    assert all(s.at <= datetime(2024, 3, 8, 21, 0, tzinfo=UTC) for s in emitted)
    # Friday: +1.92 % vs +0.20 %: the streak goes on.
    assert points(friday.samples, "rut_spx_streak")[-1] == (FRI, 2.0)


async def test_refresh_asks_a_short_range_and_a_longer_one_after_downtime(
    feeds: FeedServer, source: YahooIndices
) -> None:
    script(feeds, RUT_CLOSES, SPX_CLOSES, THU, ny(THU, 8))
    await source.fetch(ny(THU, 8))
    await source.fetch(ny(THU, 9))
    assert feeds.seen[-2].query["range"] == "5d"
    assert feeds.seen[-1].path == SPX
    await source.fetch(ny(THU, 9) + timedelta(days=20))
    assert feeds.seen[-1].query["range"] == "1mo"


async def test_sessions_missed_while_down_come_in_order(
    feeds: FeedServer, source: YahooIndices
) -> None:
    script(feeds, {MON: 100.0}, {MON: 50.0}, TUE, ny(TUE, 8))
    await source.fetch(ny(TUE, 8))
    script(feeds, {**RUT_CLOSES, THU: 104.0}, {**SPX_CLOSES, THU: 50.6}, FRI, ny(FRI, 8))
    result = await source.fetch(ny(FRI, 8))
    assert points(result.samples, "rut") == [(MON, 100.0), (TUE, 105.0), (WED, 103.0), (THU, 104.0)]
    assert not points(result.history, "rut")
    # The streak's first values: the older ones seed history, the newest is the sample.
    assert points(result.history, "rut_spx_streak") == [(TUE, 1.0), (WED, 0.0)]
    assert points(result.samples, "rut_spx_streak") == [(THU, 1.0)]


async def test_null_holiday_close_is_skipped_and_logged_once(
    feeds: FeedServer, source: YahooIndices, caplog: pytest.LogCaptureFixture
) -> None:
    rut: dict[date, float | None] = {MON: 100.0, TUE: None, WED: 103.0, THU: 0.0}
    spx: dict[date, float | None] = {MON: 50.0, TUE: 50.5, WED: 50.5, THU: 51.0}
    script(feeds, rut, spx, FRI, ny(FRI, 8))
    with caplog.at_level(logging.WARNING, "signals.sources.yahoo"):
        first = await source.fetch(ny(FRI, 8))
        await source.fetch(ny(FRI, 9))
    assert points(first.history, "rut") == [(MON, 100.0)]
    assert points(first.samples, "rut") == [(WED, 103.0)]
    # Monday -> Wednesday spans the gap for both: +3 % vs +1 %.
    assert points(first.samples, "rut_spx_streak") == [(WED, 1.0)]
    assert [r.getMessage() for r in caplog.records] == [
        "yahoo: skipped ^RUT on 2024-03-05: close None",
        "yahoo: skipped ^RUT on 2024-03-07: close 0.0",
    ]


async def test_benchmark_failure_still_updates_rut_and_marks_the_streak_stale(
    feeds: FeedServer, source: YahooIndices
) -> None:
    script(feeds, RUT_CLOSES, SPX_CLOSES, THU, ny(THU, 8))
    await source.fetch(ny(THU, 8))
    script(feeds, {**RUT_CLOSES, THU: 104.0}, {**SPX_CLOSES, THU: 50.6}, FRI, ny(FRI, 8))
    feeds.queue(SPX, Reply(502, {}))
    result = await source.fetch(ny(FRI, 8))
    assert points(result.samples, "rut")[-1] == (THU, 104.0)
    assert points(result.samples, "rut_spx_streak")[-1] == (WED, 0.0)
    assert result.stale == (
        Stale("rut_spx_streak", "^GSPC: HTTP 502 for /v8/finance/chart/%5EGSPC"),
    )
    recovered = await source.fetch(ny(FRI, 9))
    assert points(recovered.samples, "rut_spx_streak")[-1] == (THU, 1.0)


async def test_without_a_browser_agent_yahoo_answers_429(
    feeds: FeedServer, session: aiohttp.ClientSession
) -> None:
    script(feeds, RUT_CLOSES, SPX_CLOSES, THU, ny(THU, 8))
    plain = YahooIndices(YahooClient(session, feeds.url, user_agent="Python/3.11 aiohttp/3.14"))
    with pytest.raises(RateLimited):
        await plain.fetch(ny(THU, 8))


async def test_unknown_symbol_is_refused(feeds: FeedServer, session: aiohttp.ClientSession) -> None:
    with pytest.raises(HttpRefused) as caught:
        await YahooClient(session, feeds.url).recent("^NOPE", "5d")
    assert caught.value.status == 404


async def test_error_object_with_200_is_a_bad_payload(
    feeds: FeedServer, session: aiohttp.ClientSession
) -> None:
    error = {"code": "Bad Request", "description": "Invalid input - interval=1d is not supported"}
    feeds.queue(RUT, Reply(body={"chart": {"result": None, "error": error}}))
    with pytest.raises(BadPayload) as caught:
        await YahooClient(session, feeds.url).recent("^RUT", "5d")
    assert caught.value.field_name == "chart.error"
    assert "Invalid input" in caught.value.problem


async def test_monthly_bars_where_daily_were_asked_are_refused(
    feeds: FeedServer, session: aiohttp.ClientSession
) -> None:
    body = yahoo_chart(
        "^RUT", [(ny(MON, 9, 30), 100.0)], regular=None, market_time=ny(MON, 16), granularity="1mo"
    )
    feeds.queue(RUT, Reply(body=body))
    with pytest.raises(BadPayload) as caught:
        await YahooClient(session, feeds.url).recent("^RUT", "5d")
    assert caught.value.field_name == "chart.result[0].meta.dataGranularity"


async def test_closes_not_matching_timestamps_are_a_bad_payload(
    feeds: FeedServer, session: aiohttp.ClientSession
) -> None:
    body = chart("^RUT", RUT_CLOSES, THU, ny(THU, 8))
    result = body["chart"]["result"][0]  # type: ignore[index]
    result["indicators"]["quote"][0]["close"].pop()
    feeds.queue(RUT, Reply(body=body))
    with pytest.raises(BadPayload) as caught:
        await YahooClient(session, feeds.url).recent("^RUT", "5d")
    assert caught.value.field_name == "chart.result[0].indicators.quote[0].close"


async def test_html_page_instead_of_a_chart_is_a_bad_payload(
    feeds: FeedServer, source: YahooIndices
) -> None:
    feeds.queue(RUT, Reply(raw=b"<html><body>Will be right back...</body></html>"))
    with pytest.raises(BadPayload, match="not JSON"):
        await source.fetch(ny(THU, 8))


async def test_a_range_without_sessions_is_empty_not_an_error(
    feeds: FeedServer, session: aiohttp.ClientSession
) -> None:
    feeds.yahoo["^RUT"] = yahoo_chart("^RUT", [], regular=None, market_time=ny(MON, 16))
    chart = await YahooClient(session, feeds.url).recent("^RUT", "5d")
    assert chart.bars == ()
