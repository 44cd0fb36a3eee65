"""Net liquidity: FRED CSV parsing, alignment, the four-week change and the FRED source."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import aiohttp
import pandas as pd
import pytest

from signals.http import HttpRefused
from signals.liquidity import four_week_changes, net_liquidity
from signals.sources.fred import FredClient, FredLiquidity, parse_fred_csv
from signals.types import BadPayload, RateLimited, SourceError, SourceUnavailable
from tests.fakes.feeds import Reply
from tests.fakes.macro import FRED_PATH, MacroServer, csv_reply, fred_csv, html_reply

NOW = datetime(2024, 1, 12, 15, tzinfo=UTC)
# Shaped like FRED's own answers in the week of 2024-01-03 (see the shared excerpts).
WALCL = [("2023-12-27", "7712781"), ("2024-01-03", "7681024"), ("2024-01-10", "7686710")]
WTREGEN = [("2023-12-27", "731405"), ("2024-01-03", "758448"), ("2024-01-10", "747565")]
RRP = [
    ("2023-12-29", "1018.483"),
    ("2024-01-01", ""),
    ("2024-01-02", "704.864"),
    ("2024-01-03", "719.897"),
    ("2024-01-04", "664.899"),
]
# By hand, in USD bn: WALCL/1000 - WTREGEN/1000 - RRPONTSYD, the weekly series carried forward.
EXPECTED = {
    date(2023, 12, 29): 7712.781 - 731.405 - 1018.483,  # 5962.893
    date(2024, 1, 2): 7712.781 - 731.405 - 704.864,  # 6276.512
    date(2024, 1, 3): 6202.679,  # 7681.024 - 758.448 - 719.897, the reference check
    date(2024, 1, 4): 7681.024 - 758.448 - 664.899,  # 6257.677
    date(2024, 1, 10): 7686.710 - 747.565 - 664.899,  # 6274.246
}


def series(series_id: str, rows: list[tuple[str, str]]) -> pd.Series:
    return parse_fred_csv(series_id, fred_csv(series_id, rows))


def by_day(values: pd.Series) -> dict[date, float]:
    days = pd.DatetimeIndex(values.index)
    return {stamp.date(): value for stamp, value in zip(days, values.to_list(), strict=True)}


@pytest.fixture
async def macro() -> AsyncIterator[MacroServer]:
    async with MacroServer() as server:
        server.fred = {"WALCL": list(WALCL), "WTREGEN": list(WTREGEN), "RRPONTSYD": list(RRP)}
        yield server


def source(
    macro: MacroServer, session: aiohttp.ClientSession, timeout: float = 5.0
) -> FredLiquidity:
    return FredLiquidity(FredClient(session, macro.url, timeout=timeout))


def test_csv_skips_empty_and_dot_values() -> None:
    text = "observation_date,RRPONTSYD\n2024-01-01,\n2024-01-02,704.864\n2024-01-15,.\n"
    parsed = parse_fred_csv("RRPONTSYD", text)
    assert by_day(parsed) == {date(2024, 1, 2): 704.864}


def test_reference_week_matches_hand_arithmetic() -> None:
    result = net_liquidity(series("WALCL", WALCL), series("WTREGEN", WTREGEN), series("R", RRP))
    got = by_day(result)
    assert got.keys() == EXPECTED.keys()  # 2023-12-27 has no reverse repo yet, 01-01 no point
    for day, value in EXPECTED.items():
        assert got[day] == pytest.approx(value, abs=1e-9)


def test_holiday_with_empty_value_carries_the_day_before_forward() -> None:
    # 2025-01-01 is a Wednesday: the weekly series report it, reverse repo is closed.
    walcl = series("WALCL", [("2024-12-25", "6900000"), ("2025-01-01", "6880000")])
    tga = series("WTREGEN", [("2024-12-25", "700000"), ("2025-01-01", "720000")])
    rrp = series(
        "RRPONTSYD",
        [
            ("2024-12-24", "250.0"),
            ("2024-12-25", "."),
            ("2024-12-26", "260.0"),
            ("2024-12-31", "473.5"),
            ("2025-01-01", ""),
            ("2025-01-02", "200.0"),
        ],
    )
    got = by_day(net_liquidity(walcl, tga, rrp))
    assert got == pytest.approx(
        {
            date(2024, 12, 25): 6900.0 - 700.0 - 250.0,
            date(2024, 12, 26): 6900.0 - 700.0 - 260.0,
            date(2024, 12, 31): 6900.0 - 700.0 - 473.5,
            date(2025, 1, 1): 6880.0 - 720.0 - 473.5,
            date(2025, 1, 2): 6880.0 - 720.0 - 200.0,
        }
    )


def four_week_change(values: pd.Series) -> float | None:
    """Return the newest date's four-week change, as the source publishes it."""
    changes = four_week_changes(values)
    return None if changes.empty else float(changes.iloc[-1])


def daily(values: dict[str, float]) -> pd.Series:
    return pd.Series(list(values.values()), index=pd.DatetimeIndex(list(values)))


def test_four_week_change_compares_with_28_days_earlier() -> None:
    values = daily({"2024-01-03": 100.0, "2024-01-10": 110.0, "2024-01-31": 130.0})
    assert four_week_change(values) == pytest.approx(30.0)


def test_four_week_change_uses_the_last_value_before_a_gap() -> None:
    # 28 days before 01-31 is 01-03, a day without a point: 01-02 stands for it.
    values = daily({"2024-01-02": 90.0, "2024-01-04": 95.0, "2024-01-31": 75.5})
    assert four_week_change(values) == pytest.approx(-14.5)


def test_four_week_changes_gives_each_date_its_own_change() -> None:
    values = daily({"2024-01-02": 90.0, "2024-01-04": 95.0, "2024-01-30": 91.0, "2024-01-31": 75.5})
    changes = four_week_changes(values)
    # 01-30 looks back to 01-02 (90), 01-31 to 01-03, where 01-02 still stands (90).
    assert by_day(changes) == {date(2024, 1, 30): 1.0, date(2024, 1, 31): -14.5}
    assert four_week_changes(daily({})).empty


async def test_source_publishes_the_four_week_change_with_each_point(
    macro: MacroServer, session: aiohttp.ClientSession
) -> None:
    # Weekly balance sheet and TGA, a daily reverse repo: net liquidity rises 10 bn a week.
    weeks = [date(2023, 12, 6) + timedelta(weeks=n) for n in range(6)]
    macro.fred["WALCL"] = [(d.isoformat(), f"{8000000 + 10000 * n}") for n, d in enumerate(weeks)]
    macro.fred["WTREGEN"] = [(d.isoformat(), "700000") for d in weeks]
    macro.fred["RRPONTSYD"] = [(d.isoformat(), "500.0") for d in weeks]
    late = datetime(2024, 1, 12, 15, tzinfo=UTC)

    result = await source(macro, session).fetch(late)

    changes = {
        p.at.date(): p.value
        for p in (*result.history, *result.samples)
        if p.metric == "net_liquidity_4w"
    }
    # 8000 + 10n - 700 - 500 bn; four weeks apart: +40 bn. The first four weeks have no change.
    assert changes == {
        date(2024, 1, 3): pytest.approx(40.0),
        date(2024, 1, 10): pytest.approx(40.0),
    }
    newest = {p.metric: p for p in result.samples}
    assert newest["net_liquidity_4w"].at == datetime(2024, 1, 10, tzinfo=UTC)
    assert newest["net_liquidity"].value == pytest.approx(8000 + 50 - 700 - 500)


def test_four_week_change_needs_four_weeks_of_history() -> None:
    assert four_week_change(daily({"2024-01-04": 95.0, "2024-01-31": 120.0})) is None
    assert four_week_change(daily({})) is None


async def test_first_fetch_returns_history_then_the_newest_point(
    macro: MacroServer, session: aiohttp.ClientSession
) -> None:
    result = await source(macro, session).fetch(NOW)

    points = [*result.history, *result.samples]
    assert [p.at for p in points] == [
        datetime(d.year, d.month, d.day, tzinfo=UTC) for d in EXPECTED
    ]
    assert [p.value for p in points] == pytest.approx(list(EXPECTED.values()))
    assert [p.at.date() for p in result.samples] == [date(2024, 1, 10)]
    assert {(p.metric, p.source) for p in points} == {("net_liquidity", "fred")}
    assert result.stale == ()
    for series_id in ("WALCL", "WTREGEN", "RRPONTSYD"):
        assert macro.calls(FRED_PATH, id=series_id) == 1
    assert all("cosd" not in seen.query for seen in macro.seen)


async def test_later_fetch_asks_for_six_weeks_and_resends_the_newest(
    macro: MacroServer, session: aiohttp.ClientSession
) -> None:
    liquidity = source(macro, session)
    await liquidity.fetch(NOW)
    macro.fred["RRPONTSYD"].append(("2024-01-11", "650.000"))

    result = await liquidity.fetch(NOW)

    assert result.history == ()
    assert [p.at.date() for p in result.samples] == [*EXPECTED, date(2024, 1, 11)]
    assert result.samples[-1].value == pytest.approx(7686.710 - 747.565 - 650.0)
    # 42 days before 2024-01-10: four weeks for the change, and a weekly value to carry forward.
    assert macro.calls(FRED_PATH, id="WALCL", cosd="2023-11-29") == 1


BAD_ANSWERS = [
    pytest.param(html_reply("<!DOCTYPE html><html>Maintenance</html>"), BadPayload, id="html"),
    pytest.param(csv_reply("DATE,WTREGEN\n2024-01-03,758448\n"), BadPayload, id="header"),
    pytest.param(
        csv_reply("observation_date,WALCL\n2024-01-03,758448\n"), BadPayload, id="other-series"
    ),
    pytest.param(
        csv_reply("observation_date,WTREGEN\n2024-01-03,n/a\n"), BadPayload, id="non-numeric"
    ),
    pytest.param(
        csv_reply("observation_date,WTREGEN\n2024-01-03,nan\n"), BadPayload, id="not-finite"
    ),
    pytest.param(
        csv_reply("observation_date,WTREGEN\n2024-01-10,1\n2024-01-03,2\n"),
        BadPayload,
        id="out-of-order",
    ),
    pytest.param(
        csv_reply("observation_date,WTREGEN\n2024-01-03,758448\n2024-01-10,7475"),
        BadPayload,
        id="cut-mid-row",
    ),
    pytest.param(csv_reply(fred_csv("WTREGEN", WTREGEN), truncate=40), BadPayload, id="truncated"),
    pytest.param(Reply(500, raw=b"oops", content_type="text/plain"), SourceUnavailable, id="500"),
    pytest.param(html_reply("<html>Not found</html>", 404), HttpRefused, id="404"),
]


@pytest.mark.parametrize(("reply", "error"), BAD_ANSWERS)
async def test_bad_answers_raise_typed_errors(
    macro: MacroServer,
    session: aiohttp.ClientSession,
    reply: Reply,
    error: type[SourceError],
) -> None:
    macro.queue_series("WTREGEN", reply)
    with pytest.raises(error) as caught:
        await source(macro, session).fetch(NOW)
    assert caught.value.source == "fred"


async def test_rate_limit_carries_retry_after(
    macro: MacroServer, session: aiohttp.ClientSession
) -> None:
    macro.queue_series("RRPONTSYD", Reply(429, raw=b"slow down", headers={"Retry-After": "120"}))
    with pytest.raises(RateLimited) as caught:
        await source(macro, session).fetch(NOW)
    assert caught.value.retry_after == 120.0


async def test_no_answer_within_the_timeout_is_unavailable(
    macro: MacroServer, session: aiohttp.ClientSession
) -> None:
    macro.queue_series("WALCL", Reply(hang=True))
    with pytest.raises(SourceUnavailable, match="no answer"):
        await source(macro, session, timeout=0.05).fetch(NOW)


async def test_series_sharing_no_date_is_a_bad_payload(
    macro: MacroServer, session: aiohttp.ClientSession
) -> None:
    macro.fred["RRPONTSYD"] = [("2024-01-01", "")]
    with pytest.raises(BadPayload, match="share no date"):
        await source(macro, session).fetch(NOW)


async def test_a_failed_fetch_does_not_lose_the_first_history(
    macro: MacroServer, session: aiohttp.ClientSession
) -> None:
    liquidity = source(macro, session)
    macro.queue_series("WALCL", Reply(503, raw=b"busy", content_type="text/plain"))
    with pytest.raises(SourceUnavailable):
        await liquidity.fetch(NOW)

    result = await liquidity.fetch(NOW)

    assert len(result.history) == len(EXPECTED) - 1
    assert macro.calls(FRED_PATH, id="WALCL") == 2
