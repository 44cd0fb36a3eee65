"""`python -m bot history import` and `python -m bot backtest`, run as the operator runs them."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from bot.charts.data import backtest_chart_spec
from bot.commands.backtests import run_backtest
from bot.model.evaluation import RuleState
from bot.model.rules import RuleDefaults, builtin_rules
from bot.storage import Store
from signals.types import Sample
from tests.bot.test_cli import cli, cli_env

ASI = [40, 44, 48, 52, 55, 49, 47, 45, 43, 51, 56, 61]
FIRST = date(2025, 1, 1)


def asi_csv(tmp_path: Path) -> Path:
    path = tmp_path / "asi.csv"
    rows = [f"{FIRST + timedelta(days=5 * k)},{v}" for k, v in enumerate(ASI)]
    path.write_text("date,value\n" + "\n".join(rows) + "\n")
    return path


async def stored(tmp_path: Path, metric: str) -> list[tuple[datetime, float]]:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'radar.db'}")
    try:
        return await store.samples_since(metric, datetime(2000, 1, 1, tzinfo=UTC))
    finally:
        await store.close()


async def test_import_then_backtest_as_text_and_json(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    code, out, err = await cli(env, tmp_path, "history", "import", "asi", str(asi_csv(tmp_path)))
    assert (code, err) == (0, "")
    assert out == "imported 12 samples of asi, from 2025-01-01 00:00 UTC to 2025-02-25 00:00 UTC\n"
    assert len(await stored(tmp_path, "asi")) == 12

    code, out, err = await cli(env, tmp_path, "backtest", "asi-above-50")
    assert (code, err) == (0, "")
    # Crosses 50 on day 15 (52), re-arms only below 46 (45 on day 35), crosses again on day 45.
    assert out.splitlines() == [
        "Backtest of asi-above-50: asi crosses above 50 (re-arms below 46)",
        "History: 12 samples of asi, 2025-01-01 to 2025-02-25",
        "2025-01-16 00:00 UTC  fired at 52",
        "    30 days later: not enough history",
        "    90 days later: not enough history",
        "2025-02-05 00:00 UTC  resolved at 45",
        "2025-02-15 00:00 UTC  fired at 51",
        "    30 days later: not enough history",
        "    90 days later: not enough history",
        "Fired 2 times; firing for 30 d in all, still firing at the end.",
    ]

    code, out, err = await cli(
        env,
        tmp_path,
        "backtest",
        "asi >= 55",
        "--from",
        "2025-01-10",
        "--to",
        "2025-02-20",
        "--json",
    )
    assert (code, err) == (0, "")
    answer = json.loads(out)
    assert {k: answer[k] for k in ("rule", "metric", "from", "to", "samples", "events")} == {
        "rule": "asi >= 55",
        "metric": "asi",
        "from": "2025-01-10",
        "to": "2025-02-20",
        "samples": 9,
        "events": [
            {"state": "firing", "at": "2025-01-21T00:00:00Z", "value": 55.0},
            {"state": "resolved", "at": "2025-01-26T00:00:00Z", "value": 49.0},
            {"state": "firing", "at": "2025-02-20T00:00:00Z", "value": 56.0},
        ],
    }


async def test_a_bad_file_names_its_lines_and_stores_nothing(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("date,value\n2025-01-01,40\n2025-01-02,abc\n2025-01-03,140\n2025-01-04,41\n")
    code, out, err = await cli(cli_env(tmp_path), tmp_path, "history", "import", "asi", str(path))
    assert code == 1
    assert out == ""
    assert err.splitlines() == [
        f"risk-on-radar: {path}: 2 bad rows, nothing imported",
        "  line 3: 'abc' is not a number",
        "  line 4: asi is an index from 0 to 100; got 140",
    ]
    assert await stored(tmp_path, "asi") == []


async def test_a_tradingview_export_imports_as_is_for_a_pushed_in_metric(tmp_path: Path) -> None:
    path = tmp_path / "OTHERS.D.csv"
    path.write_text(
        "time,open,high,low,close,Volume\n"
        "1735689600,8.1,8.4,8.0,8.3,100\n"
        "1735776000,8.3,8.9,8.2,8.8,120\n"
    )
    env = cli_env(tmp_path, INGEST_METRICS="others_d")
    code, out, err = await cli(env, tmp_path, "history", "import", "others_d", str(path))
    assert (code, err) == (0, "")
    assert out == (
        "imported 2 samples of others_d, from 2025-01-01 00:00 UTC to 2025-01-02 00:00 UTC\n"
    )
    assert await stored(tmp_path, "others_d") == [
        (datetime(2025, 1, 1, tzinfo=UTC), 8.3),
        (datetime(2025, 1, 2, tzinfo=UTC), 8.8),
    ]
    # Without INGEST_METRICS the id is unknown: one line, no traceback.
    code, _, err = await cli(
        cli_env(tmp_path), tmp_path, "history", "import", "others_d", str(path)
    )
    assert code == 2
    assert len(err.splitlines()) == 1
    assert err.startswith("risk-on-radar: unknown metric 'others_d'")


async def test_import_raises_a_new_high_record_it_beats_and_fires_nothing(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'radar.db'}"
    store = await Store.open(url)
    async with store.unit() as unit:
        await unit.lock_states(["rut-new-high"], None)
        await unit.save_states({"rut-new-high": RuleState(high=2000.0)})
    await store.close()
    path = tmp_path / "rut.csv"
    path.write_text("date,close\n2021-11-08,2442.74\n2021-11-09,2400\n")
    code, _, err = await cli(cli_env(tmp_path), tmp_path, "history", "import", "rut", str(path))
    assert (code, err) == (0, "")
    store = await Store.open(url)
    try:
        state = (await store.rule_states())["rut-new-high"]
        assert (state.state, state.high) == ("inactive", 2442.74)
    finally:
        await store.close()


async def test_bad_backtest_arguments_get_one_line(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    for args, expected in (
        (("backtest", "nope"), "risk-on-radar: unknown rule 'nope'"),
        (("backtest", "asi", ">", "200"), "risk-on-radar: asi is an index from 0 to 100"),
        (("backtest", "asi-above-50", "--from", "2025-02-01", "--to", "2025-01-01"), "risk-on"),
    ):
        code, out, err = await cli(env, tmp_path, *args)
        assert code == 2, args
        assert out == ""
        assert len(err.strip().splitlines()) == 1, err
        assert err.startswith(expected)


async def test_a_backtest_draws_its_firings_on_a_chart(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    assert (await cli(env, tmp_path, "history", "import", "asi", str(asi_csv(tmp_path))))[0] == 0
    png = tmp_path / "asi-above-50.png"
    code, out, err = await cli(env, tmp_path, "backtest", "asi-above-50", "--chart", str(png))
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == f"{png}: asi, 12 points, 1280x720"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Nothing stored for the metric: one line, no file.
    empty = tmp_path / "none.png"
    code, _, err = await cli(env, tmp_path, "backtest", "btc_dominance < 59", "--chart", str(empty))
    assert code == 1
    assert err == "risk-on-radar: chart: no btc_dominance values stored to draw\n"
    assert not empty.exists()


async def test_the_backtest_chart_marks_the_replayed_firings(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'radar.db'}")
    try:
        rows = [
            Sample(
                "asi", float(v), datetime.combine(FIRST, time(), UTC) + timedelta(days=5 * k), "x"
            )
            for k, v in enumerate(ASI)
        ]
        await store.save_history(rows)
        rule = next(r for r in builtin_rules(RuleDefaults()) if r.id == "asi-above-50")
        result = await run_backtest(store, rule)
        spec = await backtest_chart_spec(store, result)
    finally:
        await store.close()
    assert spec is not None
    assert [(m.state, m.value) for m in spec.markers] == [
        ("firing", 52.0),
        ("resolved", 45.0),
        ("firing", 51.0),
    ]
    assert [t.rule_id for t in spec.thresholds] == ["asi-above-50"]
    assert spec.subtitle.endswith("backtest: fired 2 times")
