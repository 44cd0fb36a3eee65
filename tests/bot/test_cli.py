"""The command line, run as the operator runs it: `python -m bot ...` in a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic.script import ScriptDirectory

from bot.cli import _Progress
from bot.storage import Store
from bot.storage.database import _migrations_config
from signals.types import FetchResult
from tests.fakes.exchange import ExchangeServer
from tests.fakes.feeds import FeedServer, cg_global, offline_feeds, yahoo_chart
from tests.fakes.futures import FuturesServer
from tests.fakes.macro import MacroServer, farside_page
from tests.signals import scenario

NEW_YORK = ZoneInfo("America/New_York")


def cli_env(tmp_path: Path, feeds: FeedServer | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_TOKEN", "_URL"))}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'radar.db'}",
        COINGECKO_CALLS_PER_MINUTE="100000",
        LOG_LEVEL="ERROR",
    )
    # Nothing may reach a real provider: every feed without a fake answers from a closed port.
    env.update({name.upper(): url for name, url in offline_feeds().items()})
    if feeds is not None:
        env.update(
            COINGECKO_API_URL=feeds.coingecko_url,
            COINPAPRIKA_API_URL=feeds.url,
            YAHOO_API_URL=feeds.url,
        )
    env.update(extra)
    return env


async def cli(env: dict[str, str], cwd: Path, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def sessions(now: datetime, count: int) -> list[date]:
    """Return the last `count` weekdays before today, oldest first."""
    days: list[date] = []
    day = now.astimezone(NEW_YORK).date()
    while len(days) < count:
        day -= timedelta(days=1)
        if day.weekday() < 5:
            days.append(day)
    return days[::-1]


def script_indices(feeds: FeedServer, now: datetime) -> None:
    days = sessions(now, 6)
    rut = [2000.0, 2010.0, 2030.0, 2020.0, 2050.0, 2060.0]
    spx = [5000.0, 5001.0, 5002.0, 5003.0, 5004.0, 5005.0]
    today = now.astimezone(NEW_YORK).date()
    period = (
        datetime.combine(today, time(9, 30), NEW_YORK).astimezone(UTC),
        datetime.combine(today, time(16), NEW_YORK).astimezone(UTC),
    )
    for symbol, closes in (("^RUT", rut), ("^GSPC", spx)):
        bars = [
            (datetime.combine(d, time(9, 30), NEW_YORK).astimezone(UTC), c)
            for d, c in zip(days, closes, strict=True)
        ]
        feeds.yahoo[symbol] = yahoo_chart(symbol, bars, regular=period, market_time=now)


def script_macro(macro: MacroServer, exchange: ExchangeServer, now: datetime) -> None:
    """Script FRED, Farside and the exchange with recent data whose figures are easy by hand."""
    today = now.date()
    # Six Wednesdays: the balance sheet grows 10 bn a week, TGA and reverse repo stay put.
    weeks = [today - timedelta(days=7 * n + (today.weekday() - 2) % 7) for n in range(5, -1, -1)]
    macro.fred["WALCL"] = [
        (d.isoformat(), f"{7_000_000 + 10_000 * n}") for n, d in enumerate(weeks)
    ]
    macro.fred["WTREGEN"] = [(d.isoformat(), "750000") for d in weeks]
    macro.fred["RRPONTSYD"] = [(d.isoformat(), "250.000") for d in weeks]
    days = [today - timedelta(days=n) for n in (3, 2, 1)]
    totals = ("(4.0)", "20.5", "15.0")
    rows = [(f"{d:%d %b %Y}", ("10.0", "5.0"), t) for d, t in zip(days, totals, strict=True)]
    macro.farside = farside_page(("IBIT", "FBTC"), rows)
    # ETH/BTC: fifty settled days at 0.04, then yesterday's close at 0.05, today still forming.
    closes = [0.04] * 50 + [0.05, 0.06]
    exchange.eth_btc_days = [
        (today - timedelta(days=len(closes) - 1 - n), c) for n, c in enumerate(closes)
    ]


async def test_status_json_reports_every_metric_with_value_time_and_source(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    hour = now.replace(minute=0, second=0, microsecond=0)
    async with (
        FeedServer() as feeds,
        MacroServer() as macro,
        ExchangeServer() as exchange,
        FuturesServer(forming=hour) as futures,
    ):
        scenario.install(feeds, now)
        # The ten largest alts of the scenario, ALT01..ALT10, at ratios 0.5, 0.6, ... 1.4.
        bases = [f"ALT{i:02d}" for i in range(1, 12)]
        futures.list_perpetuals(bases)
        futures.ratios = {f"{b}USDT": 0.4 + i / 10 for i, b in enumerate(bases, start=1)}
        feeds.coingecko_global = cg_global(2.5e12, 57.5, 12.0, now)
        script_indices(feeds, now)
        script_macro(macro, exchange, now)
        env = cli_env(
            tmp_path,
            feeds,
            FRED_API_URL=macro.url,
            FARSIDE_API_URL=macro.url,
            EXCHANGE_API_URL=exchange.url,
            FUTURES_API_URL=futures.url,
        )
        code, out, err = await cli(env, tmp_path, "status", "--json")
    assert code == 0, err
    # The operator sees on stderr what the command waits for, and how a back-fill gets on.
    progress = err.splitlines()
    assert progress[0] == (
        "status: asking 7 sources once: coingecko, global, yahoo, exchange, fred, farside, "
        "futures (on a fresh database the ASI first back-fills a year of closes: a few minutes)"
    )
    assert any(
        line.startswith("status: ASI back-fill: fetching 365 days of closes for 51 coins")
        for line in progress
    ), err
    assert "status: ASI back-fill: 5/51 coins, about 1 s left" in progress
    assert "status: ASI back-fill: 51/51 coins" in progress
    report = json.loads(out)
    assert report["errors"] == {}
    metrics = report["metrics"]
    assert metrics["asi"]["value"] == scenario.EXPECTED_ASI
    assert metrics["btc_dominance"]["value"] == 57.5
    assert metrics["total2"]["value"] == 2.5e12 * (1 - 0.575)
    assert metrics["total3"]["value"] == 2.5e12 * (1 - 0.575 - 0.12)
    assert metrics["rut"]["value"] == 2060.0
    # The S&P adds 0.02 % a session; the Russell loses 0.49 % on the fourth and gains 1.49 % and
    # 0.49 % on the last two: a streak of two.
    assert metrics["rut_spx_streak"]["value"] == 2.0
    assert metrics["rut_sessions_since_high"]["value"] == 0.0  # 2060 is the highest close
    assert {m: metrics[m]["value"] for m in ("btc_usd", "eth_usd", "sol_usd", "eth_btc")} == {
        "btc_usd": 60000.0,
        "eth_usd": 3000.0,
        "sol_usd": 150.0,
        "eth_btc": 0.05,
    }
    # Yesterday's 0.05 against the fifty settled closes up to it: 49 x 0.04 + 0.05 = 2.01 / 50.
    assert metrics["eth_btc_vs_sma50"]["value"] == pytest.approx((0.05 / (2.01 / 50) - 1) * 100)
    # 7,050 - 750 - 250 bn this week; the week four weeks earlier had 40 bn less.
    assert metrics["net_liquidity"]["value"] == pytest.approx(6050.0)
    assert metrics["net_liquidity_4w"]["value"] == pytest.approx(40.0)
    assert metrics["btc_etf_flow"]["value"] == 15.0
    assert metrics["btc_etf_streak"]["value"] == 2.0
    assert metrics["alt_long_short"]["value"] == pytest.approx(0.95)  # (0.9 + 1.0) / 2
    assert metrics["alt_long_short"]["source"] == "binance-futures"
    for metric in ("asi", "btc_dominance", "total2", "total3", "rut", "rut_spx_streak"):
        row = metrics[metric]
        assert row["source"] in ("coingecko", "yahoo")
        assert datetime.fromisoformat(row["at"].replace("Z", "+00:00")) <= now + timedelta(days=1)
    # Russell high (yes), ASI 40 (no), dominance below 59 but no week of history (unknown),
    # ETH/BTC above its average (yes), liquidity up (yes); alt/BTC MACD as the scenario gives it.
    macd = metrics.get("altbtc_macd", {}).get("value")
    macd_verdict = "unknown" if macd is None else ("yes" if macd > 0 else "no")
    assert metrics["risk_on"]["components"] == {
        "rut_high": "yes",
        "asi": "no",
        "dominance": "unknown",
        "eth_btc": "yes",
        "altbtc_macd": macd_verdict,
        "liquidity": "yes",
    }
    assert metrics["risk_on"]["value"] == 3.0 + (macd_verdict == "yes")
    assert set(report["rules"]) >= {"asi-above-50", "btc-dominance-below-59", "risk-on-regime"}
    # A fresh database has alerted nothing, but the rules say what holds: the new-high rule
    # agrees with rut_sessions_since_high = 0; a regime of 3 or 4 known with one unknown
    # cannot be told.
    rules = report["rules"]
    assert rules["rut-new-high"] == {"state": "inactive", "holds": True}
    assert rules["asi-above-50"]["holds"] is False
    assert rules["btc-dominance-below-59"]["holds"] is True
    assert rules["risk-on-regime"]["holds"] == (True if macd_verdict == "yes" else None)
    assert report["errors"] == {}


async def test_status_exits_non_zero_only_when_no_source_answers(tmp_path: Path) -> None:
    code, out, _ = await cli(cli_env(tmp_path), tmp_path, "status", "--json")
    assert code == 1
    assert set(json.loads(out)["errors"]) == {
        "coingecko",
        "global",
        "yahoo",
        "exchange",
        "fred",
        "farside",
    }
    # Without the CoinGecko ranking the long/short source has no alts to ask about.
    assert json.loads(out)["metrics"]["alt_long_short"]["stale"] == (
        "waiting for the market-cap ranking"
    )
    async with FeedServer() as feeds:
        feeds.coingecko_global = cg_global(2.5e12, 57.5, 12.0, datetime.now(UTC))
        code, out, _ = await cli(cli_env(tmp_path, feeds), tmp_path, "status")
    assert code == 0
    assert "btc_dominance" in out


async def test_subscribe_unsubscribe_and_rules(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    code, out, _ = await cli(env, tmp_path, "rules")
    assert code == 0
    assert "asi-above-50" in out
    assert "rut-new-high" in out
    code, out, _ = await cli(env, tmp_path, "subscribe", "telegram:-100123/7", "altseason")
    assert (code, out.strip()) == (0, "telegram:-100123/7: subscribed to altseason")
    code, out, _ = await cli(env, tmp_path, "unsubscribe", "telegram:-100123/7")
    assert (code, out.strip()) == (0, "telegram:-100123/7: unsubscribed from altseason")
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'radar.db'}")
    try:
        found = await store.destination("telegram:-100123/7")
    finally:
        await store.close()
    assert found is not None
    assert found.rule_ids == ()


async def test_bad_input_gets_one_clear_line_and_exit_2(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    code, _, err = await cli(env, tmp_path, "subscribe", "telegram:abc")
    assert code == 2
    assert "Telegram chat id is an integer" in err
    code, _, err = await cli(env, tmp_path, "subscribe", "console", "no-such-rule")
    assert code == 2
    assert "unknown rule 'no-such-rule'" in err
    code, _, err = await cli({**env, "POLL_SECONDS": "-1"}, tmp_path, "rules")
    assert code == 2
    assert err.strip().splitlines() == [
        "risk-on-radar: invalid POLL_SECONDS: Input should be greater than 0"
    ]


async def test_a_database_that_cannot_be_opened_is_one_line_and_exit_1(tmp_path: Path) -> None:
    from tests.bot.conftest import PG_URL, reset_postgres

    await reset_postgres()  # skips when no PostgreSQL runs here
    server = PG_URL.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
    missing = f"postgresql://postgres:s3cret-pw@{server}/radar_no_such_database"
    closed = "postgresql://postgres:s3cret-pw@127.0.0.1:1/radar"
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    expected = {
        missing: f"risk-on-radar: cannot open the database postgresql://postgres:***@{server}/"
        'radar_no_such_database: database "radar_no_such_database" does not exist',
        closed: "risk-on-radar: cannot open the database postgresql://postgres:***@127.0.0.1:1/"
        "radar: [Errno 111] Connect call failed ('127.0.0.1', 1)",
        f"sqlite:///{not_a_dir}/radar.db": "risk-on-radar: cannot open the database "
        f"sqlite:///{not_a_dir}/radar.db: cannot create its directory: "
        f"[Errno 17] File exists: '{not_a_dir}'",
    }
    for url, line in expected.items():
        code, out, err = await cli(cli_env(tmp_path, DATABASE_URL=url), tmp_path, "run")
        assert (code, out, err.splitlines()) == (1, "", [line])
        assert "s3cret-pw" not in err


async def test_a_port_in_use_is_one_line_and_exit_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = cli_env(tmp_path, HOST="127.0.0.1", PORT=str(port), POLL_SECONDS="3600")
        code, out, err = await cli(env, tmp_path, "run")
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        f"risk-on-radar: PORT {port} is already in use on 127.0.0.1: Address already in use; "
        "stop the other server or set PORT"
    ]


async def test_status_says_every_ten_seconds_which_sources_it_still_waits_for(
    capsys: pytest.CaptureFixture[str],
) -> None:
    now = [100.0]
    ticks: asyncio.Queue[None] = asyncio.Queue()

    async def sleep(seconds: float) -> None:
        await ticks.get()
        now[0] += seconds

    class Slow:
        name = "coingecko"
        done = asyncio.Event()

        async def fetch(self, at: datetime) -> FetchResult:
            await self.done.wait()
            return FetchResult()

    class Quick:
        name = "yahoo"

        async def fetch(self, at: datetime) -> FetchResult:
            return FetchResult()

    progress = _Progress(["coingecko", "yahoo"], sleep=sleep, clock=lambda: now[0])
    ticker = asyncio.ensure_future(progress.tick())
    slow = Slow()
    fetching = asyncio.gather(progress.watch(slow), progress.watch(Quick()))
    await asyncio.sleep(0.01)
    for _ in range(2):
        ticks.put_nowait(None)
        await asyncio.sleep(0.01)
    slow.done.set()
    await fetching
    ticks.put_nowait(None)
    await asyncio.sleep(0.01)
    ticker.cancel()
    assert capsys.readouterr().err.splitlines() == [
        "status: asking 2 sources once: coingecko, yahoo (on a fresh database the ASI first "
        "back-fills a year of closes: a few minutes)",
        "status: still waiting for coingecko (10 s)",
        "status: still waiting for coingecko (20 s)",
    ]


async def test_status_asi_prints_the_coins_it_counted_and_those_it_left_out(
    tmp_path: Path,
) -> None:
    now = datetime.now(UTC)
    async with FeedServer() as feeds:
        scenario.install(feeds, now)
        env = cli_env(tmp_path, feeds)
        code, out, err = await cli(env, tmp_path, "status", "asi")
        json_code, json_out, _ = await cli(env, tmp_path, "status", "asi", "--json")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["asi", "40", "coingecko"]
    assert lines[1].startswith("asi universe as of ")
    assert lines[2:5] == [
        "  bitcoin over 90 days +10.0%; 20 of 50 coins beat it",
        "  beat bitcoin (20): " + ", ".join(f"ALT{i:02d} +{50 + i}.0%" for i in range(20, 0, -1)),
        "  behind (30): ALT21 +10.0%, " + ", ".join(f"ALT{i:02d} −10.0%" for i in range(22, 51)),
    ]
    assert lines[5:9] == [
        "  excluded, Stablecoins: TETHER, USD-COIN, NEW-DOLLAR",
        "  excluded, Liquid Staking Tokens: STAKED-ETHER, MEGA-LST",
        "  excluded, Wrapped-Tokens: WRAPPED-BITCOIN",
        "  excluded, the name says it is a bridged copy of another chain's token: BRIDGED-THING",
    ]
    assert [line.split()[:2] for line in lines[9:]] == [
        ["rule", rule] for rule in ("asi-above-50", "altseason", "bitcoin-season")
    ]
    assert json_code == 0
    report = json.loads(json_out)
    assert list(report["metrics"]) == ["asi"]
    universe = report["universe"]
    assert universe["bitcoin_90d"] == pytest.approx(0.10)
    assert len(universe["coins"]) == 50
    assert {e["symbol"]: e["reason"] for e in universe["excluded"]}["USD-COIN"] == "Stablecoins"


async def test_status_of_an_unknown_metric_names_it_and_exits_2(tmp_path: Path) -> None:
    code, out, err = await cli(cli_env(tmp_path), tmp_path, "status", "nope")
    assert code == 2
    assert out == ""
    assert err.startswith("risk-on-radar: unknown metric 'nope'; try one of asi, ")


async def test_migrate_brings_the_schema_up_and_says_so(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    head = ScriptDirectory.from_config(_migrations_config()).get_current_head()
    assert await cli(env, tmp_path, "migrate") == (
        0,
        f"migrated the database schema from revision none to {head}\n",
        "",
    )
    assert await cli(env, tmp_path, "migrate") == (
        0,
        f"the database schema is up to date (revision {head})\n",
        "",
    )
