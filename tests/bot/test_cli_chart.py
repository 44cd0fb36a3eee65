"""`python -m bot chart`: a PNG from stored history, one clear line for bad input or no data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.model.rules import RuleDefaults, RuleSpec
from bot.storage import Store
from bot.watch.engine import AlertEngine
from signals.types import FetchResult, Sample
from tests.bot.charts.test_render import png_size
from tests.bot.test_cli import cli, cli_env


async def _history(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'radar.db'}")
    try:
        start = datetime(2025, 3, 1, 23, tzinfo=UTC)
        now = [start]
        engine = AlertEngine(store, RuleDefaults(), lambda: now[0])
        await store.add_custom_rule("telegram:7", RuleSpec("asi", ">", 60), start, 20)
        await engine.reload()
        for n, value in enumerate([40, 45, 52, 58, 63, 55, 47, 44]):
            now[0] = start + timedelta(days=n)
            await engine.ingest(FetchResult(samples=(Sample("asi", value, now[0], "coingecko"),)))
    finally:
        await store.close()


async def test_chart_writes_a_png_of_the_stored_span(tmp_path: Path) -> None:
    await _history(tmp_path)
    env = cli_env(tmp_path)
    out = tmp_path / "asi.png"
    code, stdout, err = await cli(
        env, tmp_path, "chart", "asi", "--from", "2025-03-01", "--to", "2025-03-31",
        "--rule", "asi-above-50", "--rule", "c1", "--output", str(out),
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert stdout.strip() == f"{out}: asi, 8 points, 1280x720"
    assert png_size(out.read_bytes()) == (1280, 720)


async def test_bad_chart_requests_get_one_line(tmp_path: Path) -> None:
    await _history(tmp_path)
    env = cli_env(tmp_path)
    target = tmp_path / "x.png"
    png = str(target)
    cases = {
        ("nope", "--output", png): "unknown metric 'nope'; see `python -m bot rules`",
        ("asi",): "--output FILE.png is required",
        ("asi", "--days", "0", "--output", png): "--days takes a whole number from 1 to 400",
        ("asi", "--days", "9", "--from", "2025-03-01", "--output", png): (
            "give --days or --from/--to, not both"
        ),
        ("asi", "--from", "2025-03-01", "--output", png): "--from and --to go together",
        ("asi", "--from", "2025-13-01", "--to", "2025-12-31", "--output", png): (
            "--from '2025-13-01' is not a date: use YYYY-MM-DD"
        ),
        ("asi", "--from", "2025-03-02", "--to", "2025-03-01", "--output", png): (
            "--to is before --from"
        ),
        (
            "asi",
            "--rule",
            "nope",
            "--output",
            png,
        ): "unknown rule 'nope'; see `python -m bot rules`",
        (
            "asi",
            "--rule",
            "rut-new-high",
            "--output",
            png,
        ): "rule 'rut-new-high' watches rut, not asi",
    }
    for args, line in cases.items():
        code, _, err = await cli(env, tmp_path, "chart", *args)
        assert (code, err.strip().splitlines()) == (2, [f"risk-on-radar: chart: {line}"]), args
    code, _, err = await cli(
        env, tmp_path, "chart", "rut", "--from", "2025-03-01", "--to", "2025-03-31", "--output", png
    )
    assert (code, err.strip().splitlines()) == (
        1,
        ["risk-on-radar: chart: no rut values stored from 2025-03-01 to 2025-03-31"],
    )
    assert not target.exists()
