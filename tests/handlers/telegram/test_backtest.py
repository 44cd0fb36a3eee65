"""Backtests in a chat, through the whole service and the fake Bot API: /backtest and a new /alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.storage import Store
from signals.types import Sample
from tests.handlers.telegram.test_e2e import USER, Running, live  # noqa: F401
from timing import utcnow

# ASI every five days, the last one five days ago.
ASI = [40, 44, 48, 52, 55, 49, 47, 45, 43, 51, 56, 61, 78, 80, 70, 60]


def days_ago(n: int) -> datetime:
    today = utcnow().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=n)


def day_of(k: int) -> str:
    return days_ago(5 * (len(ASI) - k)).strftime("%Y-%m-%d")


async def seed(running: Running) -> None:
    store = await Store.open(running.settings.async_database_url)
    try:
        await store.save_history(
            [
                Sample("asi", float(v), days_ago(5 * (len(ASI) - k)), "import")
                for k, v in enumerate(ASI)
            ]
        )
    finally:
        await store.close()


async def test_backtest_a_rule_and_a_condition(live: Running) -> None:  # noqa: F811
    await seed(live)

    sent = await live.dm(USER, "/backtest asi-above-50")
    # A chart of the history with a marker per firing, the summary as its caption.
    assert sent.photo is not None and sent.photo.data[:4] == b"\x89PNG"
    reply = sent.plain

    # Crosses 50 at sample 3 (52), re-arms below 46 at sample 7 (45), crosses again at 9 (51).
    assert reply.splitlines() == [
        "Backtest of asi-above-50: asi crosses above 50 (re-arms below 46)",
        f"History: 16 samples of asi, {day_of(0)} to {day_of(15)}",
        f"{day_of(3)} 00:00 UTC  fired at 52",
        "    30 days later: not enough history",
        "    90 days later: not enough history",
        f"{day_of(7)} 00:00 UTC  resolved at 45",
        f"{day_of(9)} 00:00 UTC  fired at 51",
        "    30 days later: not enough history",
        "    90 days later: not enough history",
        "Fired 2 times; firing for 50 d in all, still firing at the end.",
    ]
    # One year back leaves the whole history; a trailing number is read as years.
    one_year = (await live.dm(USER, "/backtest asi >= 75 1")).plain
    assert one_year.splitlines()[0] == "Backtest of asi >= 75 (resolves below 71)"
    assert f"{day_of(12)} 00:00 UTC  fired at 78" in one_year
    assert f"{day_of(14)} 00:00 UTC  resolved at 70" in one_year


async def test_a_new_alert_says_how_it_would_have_done(live: Running) -> None:  # noqa: F811
    await seed(live)

    reply = (await live.dm(USER, "/alert asi >= 75")).plain

    assert reply.splitlines()[-1] == (
        f"Backtest: would have fired once since {day_of(0)}, last on {day_of(12)}."
    )
    fresh = (await live.dm(USER, "/alert btc_usd crosses above 100k")).plain
    assert (
        fresh.splitlines()[-1] == "Backtest: not enough history yet (0 stored samples of btc_usd)."
    )


async def test_bad_backtest_input_gets_one_usage_line(live: Running) -> None:  # noqa: F811
    usage = "Usage: /backtest <rule | metric op value> [years], e.g. /backtest asi-above-50 2"
    for text, problem in (
        ("/backtest", "name a rule or a condition"),
        ("/backtest nope", "unknown rule 'nope': give a rule id or a condition such as asi >= 75"),
        ("/backtest asi-above-50 0", "years must be from 1 to 50"),
        ("/backtest asi > 200", "asi is an index from 0 to 100; got 200"),
    ):
        reply = (await live.dm(USER, text)).plain
        assert reply == f"{problem}. {usage}", text
