"""Print how long backtesting every built-in rule over 10 years of daily samples takes.

Run: .venv/bin/python bench/backtest.py
Two figures, best of three runs each: the pure replay (the engine's `evaluate` on every sample,
plus each firing's 30- and 90-day aftermath), and the whole `run_backtest` over a SQLite store
(reading the samples and the reference series, then replaying). Target: under 1 s for all rules.
"""

from __future__ import annotations

import asyncio
import math
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.commands.backtests import run_backtest
from bot.model.backtest import ALTBTC, BITCOIN, Backtest, reference_window, replay, with_aftermath
from bot.model.metrics import metric_info
from bot.model.rules import BUILTIN_RULES, Rule
from bot.storage import Store
from signals.types import Sample

YEARS = 10
DAYS = int(365.25 * YEARS)
START = datetime(2016, 1, 1, tzinfo=UTC)


def series(metric: str, centre: float, seed: int, *, trend: float = 0.0) -> list[Sample]:
    """Return daily values swinging around `centre` (crossing it every few weeks), with noise."""
    rng = random.Random(seed)
    scale = abs(centre) * 0.3 or 1.0
    return [
        Sample(
            metric,
            centre + trend * k + scale * (math.sin(k / 23) + 0.3 * rng.uniform(-1, 1)),
            START + timedelta(days=k),
            "bench",
        )
        for k in range(DAYS)
    ]


def history() -> dict[str, list[Sample]]:
    """Return 10 years of daily samples for every metric a built-in rule watches, and references."""
    out: dict[str, list[Sample]] = {}
    for seed, rule in enumerate(BUILTIN_RULES):
        if rule.metric in out:
            continue
        if rule.op == "new high":
            out[rule.metric] = series(rule.metric, 1500.0, seed, trend=0.4)
        else:
            out[rule.metric] = series(rule.metric, rule.threshold or 0.0, seed)
    out.setdefault(BITCOIN, series(BITCOIN, 50_000.0, 98, trend=20.0))
    out.setdefault(ALTBTC, series(ALTBTC, 100.0, 99))
    return out


def pure(rules: list[Rule], data: dict[str, list[Sample]]) -> list[Backtest]:
    results = []
    for rule in rules:
        result = replay(rule, data[rule.metric], metric_info(rule.metric).max_age)
        if reference_window(result) is not None:
            result = with_aftermath(result, data)
        results.append(result)
    return results


async def stored(rules: list[Rule], data: dict[str, list[Sample]]) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as folder:
        store = await Store.open(f"sqlite+aiosqlite:///{folder}/bench.db")
        try:
            for samples in data.values():
                await store.save_history(samples)
            best = math.inf
            fired = 0
            for _ in range(3):
                began = time.perf_counter()
                results = [await run_backtest(store, rule) for rule in rules]
                best = min(best, time.perf_counter() - began)
                fired = sum(len(r.firings) for r in results)
        finally:
            await store.close()
    return best, fired


def main() -> None:
    data = history()
    rules = list(BUILTIN_RULES)
    samples = sum(len(data[r.metric]) for r in rules)
    best = math.inf
    results: list[Backtest] = []
    for _ in range(3):
        began = time.perf_counter()
        results = pure(rules, data)
        best = min(best, time.perf_counter() - began)
    fired = sum(len(r.firings) for r in results)
    print(
        f"{len(rules)} built-in rules x {DAYS} daily samples ({samples:,} evaluations, "
        f"{fired} firings with their aftermath)"
    )
    print(f"pure replay:              {best * 1000:.0f} ms")
    through_store, stored_fired = asyncio.run(stored(rules, data))
    assert stored_fired == fired
    print(f"run_backtest over SQLite: {through_store * 1000:.0f} ms (reads included)")


if __name__ == "__main__":
    main()
