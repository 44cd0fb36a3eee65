"""Bitcoin ETF flows: Farside's table parsed, the inflow streak, and the Farside source."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import aiohttp
import pytest

from signals.etf import DailyFlow, inflow_streaks, parse_amount, parse_flows
from signals.http import HttpRefused
from signals.sources.farside import FarsideEtfFlows
from signals.types import BadPayload, RateLimited, SourceError, SourceUnavailable, Stale
from tests.fakes.feeds import Reply
from tests.fakes.macro import (
    CHALLENGE_PAGE,
    FARSIDE_PATH,
    MacroServer,
    challenge,
    farside_page,
    html_reply,
)

NOW = datetime(2024, 1, 19, 9, tzinfo=UTC)
TICKERS = ("IBIT", "FBTC", "GBTC")
# Each total is the sum of its row, by hand; 16 Jan has no data yet.
DAYS = [
    ("11 Jan 2024", ("111.7", "227.0", "(95.1)"), "243.6"),
    ("12 Jan 2024", ("386.0", "195.3", "(484.1)"), "97.2"),
    ("16 Jan 2024", ("-", "-", "-"), "-"),
    ("17 Jan 2024", ("50.0", "10.0", "(1,120.5)"), "(1,060.5)"),
    ("18 Jan 2024", ("300.0", "100.0", "(100.0)"), "300.0"),
]
FLOWS = (
    DailyFlow(date(2024, 1, 11), 243.6),
    DailyFlow(date(2024, 1, 12), 97.2),
    DailyFlow(date(2024, 1, 17), -1060.5),
    DailyFlow(date(2024, 1, 18), 300.0),
)
PAGE = farside_page(TICKERS, DAYS)
# The page cut inside the 17 Jan row, as a proxy that gives up without a Content-Length would.
CUT = PAGE[: PAGE.index("17 Jan 2024") + 60]


def inflow_streak(flows: list[DailyFlow]) -> int:
    """Return the run of inflow days ending on the newest day, as the source publishes it."""
    runs = inflow_streaks(flows)
    return runs[-1][1] if runs else 0


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def test_table_gives_daily_totals_with_negatives_and_no_missing_day() -> None:
    assert parse_flows("farside", PAGE) == FLOWS


@pytest.mark.parametrize(
    ("cell", "amount"),
    [("655.3", 655.3), ("(95.1)", -95.1), ("1,045.0", 1045.0), ("-95.1", -95.1), ("0.0", 0.0)],
)
def test_amounts_read_as_farside_writes_them(cell: str, amount: float) -> None:
    assert parse_amount("farside", "x", cell) == amount


@pytest.mark.parametrize("cell", ["-", "", "  "])
def test_no_data_is_none_never_zero(cell: str) -> None:
    assert parse_amount("farside", "x", cell) is None


@pytest.mark.parametrize("cell", ["n/a", "(12.5", "1.2.3", "(-3.0)", "12,34.5", "1e3"])
def test_other_cells_are_bad_payloads(cell: str) -> None:
    with pytest.raises(BadPayload):
        parse_amount("farside", "x", cell)


def test_page_without_a_table_has_no_flows() -> None:
    assert parse_flows("farside", CHALLENGE_PAGE) is None
    assert parse_flows("farside", "<table><tr><td>Fund</td><td>Fee</td></tr></table>") is None


def test_page_cut_inside_the_table_is_a_bad_payload() -> None:
    with pytest.raises(BadPayload, match="truncated"):
        parse_flows("farside", CUT)


def test_day_missing_a_cell_is_a_bad_payload() -> None:
    page = farside_page(TICKERS, [*DAYS[:2], ("19 Jan 2024", ("1.0", "2.0"), "3.0")])
    with pytest.raises(BadPayload, match="2024-01-19"):
        parse_flows("farside", page)


def test_day_listed_twice_is_a_bad_payload() -> None:
    with pytest.raises(BadPayload, match="twice"):
        parse_flows("farside", farside_page(TICKERS, [*DAYS, DAYS[0]]))


def test_table_without_a_total_column_is_a_bad_payload() -> None:
    page = PAGE.replace('<th><span class="tabletext">Total</span></th>', "")
    with pytest.raises(BadPayload, match="Total"):
        parse_flows("farside", page)


def flows(*amounts: float) -> list[DailyFlow]:
    return [DailyFlow(date(2024, 2, day), amount) for day, amount in enumerate(amounts, start=1)]


def test_inflow_streak_counts_the_latest_run_of_inflows() -> None:
    assert inflow_streak(flows(5.0, 3.0, -2.0, 1.0, 4.0, 9.5)) == 3
    assert inflow_streak(flows(5.0, 3.0)) == 2
    assert inflow_streak(flows(5.0, 0.0)) == 0  # a flat day ends the run
    assert inflow_streak(flows(5.0, -0.1)) == 0
    assert inflow_streak([]) == 0


def test_inflow_streak_orders_days_itself() -> None:
    assert inflow_streak(list(reversed(flows(-1.0, 2.0, 3.0)))) == 2
    assert inflow_streak(FLOWS) == 1


@pytest.fixture
async def macro() -> AsyncIterator[MacroServer]:
    async with MacroServer() as server:
        server.farside = PAGE
        yield server


def source(macro: MacroServer, session: aiohttp.ClientSession) -> FarsideEtfFlows:
    return FarsideEtfFlows(session, macro.url, timeout=5.0)


async def test_first_fetch_returns_history_then_the_newest_day(
    macro: MacroServer, session: aiohttp.ClientSession
) -> None:
    result = await source(macro, session).fetch(NOW)

    flows = [p for p in result.history if p.metric == "btc_etf_flow"]
    assert [(p.at, p.value) for p in flows] == [
        (midnight(flow.day), flow.usd_m) for flow in FLOWS[:-1]
    ]
    # Inflow, inflow, outflow: runs of 1, 2, 0 (16 Jan, without data, neither breaks nor counts).
    streaks = [p for p in result.history if p.metric == "btc_etf_streak"]
    assert [(p.at.date(), p.value) for p in streaks] == [
        (date(2024, 1, 11), 1.0),
        (date(2024, 1, 12), 2.0),
        (date(2024, 1, 17), 0.0),
    ]
    assert [(p.metric, p.at, p.value, p.source) for p in result.samples] == [
        ("btc_etf_flow", midnight(date(2024, 1, 18)), 300.0, "farside"),
        ("btc_etf_streak", midnight(date(2024, 1, 18)), 1.0, "farside"),
    ]
    assert result.stale == ()
    assert macro.seen[0].headers["User-Agent"].startswith("Mozilla/")


async def test_later_fetch_resends_the_newest_days(
    macro: MacroServer, session: aiohttp.ClientSession
) -> None:
    flows_source = source(macro, session)
    await flows_source.fetch(NOW)
    macro.farside = farside_page(
        TICKERS,
        [*DAYS, ("19 Jan 2024", ("-", "-", "-"), "-"), ("22 Jan 2024", DAYS[0][1], "(1.5)")],
    )

    result = await flows_source.fetch(NOW)

    assert result.history == ()
    flows = [p for p in result.samples if p.metric == "btc_etf_flow"]
    assert [(p.at.date(), p.value) for p in flows] == [
        *((flow.day, flow.usd_m) for flow in FLOWS),
        (date(2024, 1, 22), -1.5),
    ]
    streaks = [p.value for p in result.samples if p.metric == "btc_etf_streak"]
    assert streaks == [1.0, 2.0, 0.0, 1.0, 0.0]
    assert macro.calls(FARSIDE_PATH) == 2


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(challenge(403), id="403"),
        pytest.param(challenge(503), id="503"),
        pytest.param(html_reply(CHALLENGE_PAGE, 403), id="403-without-header"),
        pytest.param(html_reply(CHALLENGE_PAGE), id="200-challenge"),
    ],
)
async def test_challenge_page_marks_the_metric_stale(
    macro: MacroServer, session: aiohttp.ClientSession, reply: Reply
) -> None:
    macro.queue(FARSIDE_PATH, reply)

    result = await source(macro, session).fetch(NOW)

    assert result.samples == result.history == ()
    assert [stale.metric for stale in result.stale] == ["btc_etf_flow", "btc_etf_streak"]
    assert all("Cloudflare challenge" in stale.reason for stale in result.stale)


async def test_page_without_the_table_is_stale(
    macro: MacroServer, session: aiohttp.ClientSession
) -> None:
    macro.queue(FARSIDE_PATH, html_reply("<html><body><p>We have moved.</p></body></html>"))

    result = await source(macro, session).fetch(NOW)

    reason = "no flow table (HTTP 200)"
    assert result == type(result)(
        stale=(Stale("btc_etf_flow", reason), Stale("btc_etf_streak", reason))
    )


async def test_table_with_no_day_of_data_is_stale(
    macro: MacroServer, session: aiohttp.ClientSession
) -> None:
    macro.farside = farside_page(TICKERS, [DAYS[2]])

    result = await source(macro, session).fetch(NOW)

    assert result.samples == ()
    assert [s.metric for s in result.stale] == ["btc_etf_flow", "btc_etf_streak"]


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        pytest.param(
            Reply(500, raw=b"oops", content_type="text/plain"), SourceUnavailable, id="500"
        ),
        pytest.param(
            html_reply("<html>Service Unavailable</html>", 503), SourceUnavailable, id="503"
        ),
        pytest.param(html_reply("<html>Gone</html>", 410), HttpRefused, id="410"),
        pytest.param(
            Reply(raw=PAGE.encode(), content_type="text/html", truncate=len(PAGE) // 2),
            BadPayload,
            id="truncated",
        ),
        pytest.param(html_reply(CUT), BadPayload, id="cut-without-length"),
    ],
)
async def test_bad_answers_raise_typed_errors(
    macro: MacroServer,
    session: aiohttp.ClientSession,
    reply: Reply,
    error: type[SourceError],
) -> None:
    macro.queue(FARSIDE_PATH, reply)
    with pytest.raises(error) as caught:
        await source(macro, session).fetch(NOW)
    assert caught.value.source == "farside"


async def test_rate_limit_carries_retry_after(
    macro: MacroServer, session: aiohttp.ClientSession
) -> None:
    macro.queue(FARSIDE_PATH, Reply(429, raw=b"", headers={"Retry-After": "30"}))
    with pytest.raises(RateLimited) as caught:
        await source(macro, session).fetch(NOW)
    assert caught.value.retry_after == 30.0


async def test_no_answer_within_the_timeout_is_unavailable(
    macro: MacroServer, session: aiohttp.ClientSession
) -> None:
    macro.queue(FARSIDE_PATH, Reply(hang=True))
    with pytest.raises(SourceUnavailable, match="no answer"):
        await FarsideEtfFlows(session, macro.url, timeout=0.05).fetch(NOW)


# --- days without data: US market holidays and the day not yet reported -----------------------

# Farside's all-data page as it looks on 11 Aug 2025 before that day's flows are in: twelve funds
# (MSBT not launched, "-" throughout), the 2024 holidays 15 Jan, 19 Jun and 4 Jul, a real flat
# day (2 Jul 2024: funds in and out, netting to 0.0) and 11 Aug 2025 not yet reported. On a
# holiday and on the unreported day every fund cell is "-" and the Total reads 0.0.
ALL_DATA = (Path(__file__).parent / "data" / "farside_btc_etf_all_data.html").read_text("utf-8")
NO_DATA_DAYS = (
    date(2024, 1, 15),
    date(2024, 6, 19),
    date(2024, 7, 4),
    date(2025, 8, 11),
)


def test_holidays_and_the_unreported_day_are_no_samples_whatever_the_total_says() -> None:
    flows = parse_flows("farside", ALL_DATA)
    assert flows is not None
    days = [flow.day for flow in flows]
    assert not set(NO_DATA_DAYS) & set(days)
    assert len(days) == 40  # 44 day rows, 4 of them without data
    assert flows[-1] == DailyFlow(date(2025, 8, 8), 237.5)
    # Thousands separators and the red "(...)" outflows read as Farside writes them.
    assert DailyFlow(date(2024, 6, 24), -147.4) in flows
    assert DailyFlow(date(2024, 6, 25), 651.8) in flows


def test_a_real_flat_day_with_fund_numbers_is_kept_as_zero() -> None:
    flows = parse_flows("farside", ALL_DATA)
    assert flows is not None
    assert DailyFlow(date(2024, 7, 2), 0.0) in flows


def test_the_streak_runs_through_a_holiday_and_past_the_unreported_day() -> None:
    flows = parse_flows("farside", ALL_DATA)
    assert flows is not None
    runs = dict(inflow_streaks(flows))
    # 2 Jul 2024 was flat (the run ends), 3 Jul an inflow, 4 Jul a holiday, 5 Jul an inflow.
    assert [runs[date(2024, 7, d)] for d in (2, 3, 5, 8)] == [0, 1, 2, 3]
    assert date(2024, 7, 4) not in runs
    # 11 Jul 2025 an outflow, then twenty inflow days to 8 Aug; 11 Aug is not a day yet.
    assert runs[date(2025, 8, 8)] == 20
    assert max(runs) == date(2025, 8, 8)


def test_a_holiday_with_a_zero_total_neither_breaks_nor_counts_in_the_streak() -> None:
    page = farside_page(
        TICKERS,
        [
            ("3 Jul 2024", ("20.0", "5.0", "(1.0)"), "24.0"),
            ("4 Jul 2024", ("-", "-", "-"), "0.0"),
            ("5 Jul 2024", ("10.0", "0.0", "0.0"), "10.0"),
        ],
    )
    flows = parse_flows("farside", page)
    assert flows == (DailyFlow(date(2024, 7, 3), 24.0), DailyFlow(date(2024, 7, 5), 10.0))
    assert [run for _, run in inflow_streaks(flows)] == [1, 2]


def test_a_holiday_listed_twice_is_still_a_bad_payload() -> None:
    holiday = ("4 Jul 2024", ("-", "-", "-"), "0.0")
    with pytest.raises(BadPayload, match="twice"):
        parse_flows("farside", farside_page(TICKERS, [*DAYS, holiday, holiday]))


async def test_the_source_publishes_the_last_reported_day_not_the_unreported_one(
    macro: MacroServer, session: aiohttp.ClientSession
) -> None:
    macro.farside = ALL_DATA
    flows_source = source(macro, session)

    first = await flows_source.fetch(datetime(2025, 8, 11, 14, tzinfo=UTC))
    later = await flows_source.fetch(datetime(2025, 8, 11, 15, tzinfo=UTC))

    assert [(p.metric, p.at.date(), p.value) for p in first.samples] == [
        ("btc_etf_flow", date(2025, 8, 8), 237.5),
        ("btc_etf_streak", date(2025, 8, 8), 20.0),
    ]
    every_day = {p.at.date() for p in (*first.history, *first.samples, *later.samples)}
    assert not set(NO_DATA_DAYS) & every_day
    assert [p.value for p in later.samples if p.metric == "btc_etf_streak"] == [
        16.0,
        17.0,
        18.0,
        19.0,
        20.0,
    ]
