"""Render time of a year of daily data, and what importing the chart module costs in memory.

    .venv/bin/python bench/charts.py [--runs 40]

Prints p50/p99 render time (PNG bytes included) for the ASI with its rules and markers, the
Russell 2000 with its new highs, and the regime with its component strip, each drawn from a
year of synthetic history stored through the real engine (bench/chart_data.py); then the
resident memory the process gains by importing the renderer (matplotlib) and drawing once.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

# Run as a script, this folder comes first on the path, and bench/signals.py would shadow the
# signals package: put the project root ahead of it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.chart_data import fill
from bot.charts import ChartSpec, draw_now
from bot.charts.data import chart_spec
from bot.model.rules import RuleDefaults
from bot.storage import Store
from bot.watch.engine import AlertEngine

START = datetime(2025, 1, 1, tzinfo=UTC)
END = datetime(2025, 12, 31, 23, 59, tzinfo=UTC)

_RSS_PROBE = """
import resource, sys
sys.path.insert(0, {root!r})
def rss(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
import bot.charts, bot.charts.data, bot.commands
before = rss()
import bot.charts.render
imported = rss()
print(before, imported)
"""


async def _specs(path: Path) -> dict[str, ChartSpec]:
    store = await Store.open(f"sqlite+aiosqlite:///{path}")
    try:
        await fill(store)
        engine = AlertEngine(store, RuleDefaults(), lambda: END)
        rules = await engine.rules()
        specs = {}
        for metric in ("asi", "rut", "risk_on"):
            spec = await chart_spec(store, metric, rules, START, END)
            assert spec is not None
            specs[metric] = spec
        return specs
    finally:
        await store.close()


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    root = str(Path(__file__).resolve().parents[1])
    probe = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE.format(root=root)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    before, imported = (int(v) for v in probe.stdout.split())
    with tempfile.TemporaryDirectory() as folder:
        specs = asyncio.run(_specs(Path(folder) / "bench.db"))
    first = time.perf_counter()
    draw_now(specs["asi"])
    cold = time.perf_counter() - first
    print(f"first draw in the process (fonts loaded): {cold * 1000:.0f} ms")
    for metric, spec in specs.items():
        times = []
        size = 0
        for _ in range(args.runs):
            started = time.perf_counter()
            image = draw_now(spec)
            times.append(time.perf_counter() - started)
            size = len(image.png)
        print(
            f"{metric:<8} {len(spec.points)} points, {len(spec.markers)} markers: "
            f"p50 {statistics.median(times) * 1000:.0f} ms, "
            f"p99 {_percentile(times, 0.99) * 1000:.0f} ms, PNG {size / 1024:.0f} KiB"
        )
    drawn = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"RSS: importing the renderer (matplotlib, numpy) adds {(imported - before) / 1024:.1f} MiB "
        f"({before / 1024:.1f} -> {imported / 1024:.1f} MiB); this process after drawing: "
        f"{drawn / 1024:.1f} MiB peak"
    )


if __name__ == "__main__":
    main()
