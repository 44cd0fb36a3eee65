"""Charts: the PNG's size, what the figure holds, drawing off the loop, and matplotlib kept lazy."""

from __future__ import annotations

import asyncio
import struct
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.charts import (
    ChartError,
    ChartSpec,
    ComponentStrip,
    Marker,
    Point,
    StripRow,
    Threshold,
    axis_label,
    draw,
    draw_now,
)
from bot.charts.data import component_strip
from bot.storage.metrics import StoredPoint

END = datetime(2026, 1, 5, tzinfo=UTC)


def png_size(png: bytes) -> tuple[int, int]:
    """Return the width and height a PNG's IHDR chunk declares."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def year(metric: str = "asi", values: list[float] | None = None) -> tuple[Point, ...]:
    values = values or [40 + (n % 30) for n in range(366)]
    return tuple(Point(END - timedelta(days=len(values) - 1 - n), v) for n, v in enumerate(values))


def asi_spec(**changes: object) -> ChartSpec:
    points = year()
    spec = ChartSpec(
        metric="asi",
        title="Altcoin Season Index · 62",
        subtitle="last year · daily · UTC",
        start=END - timedelta(days=365),
        end=END,
        points=points,
        provider="coingecko",
        thresholds=(
            Threshold("asi-above-50", 50, "asi-above-50: crosses above 50", False),
            Threshold("altseason", 75, "altseason: at or above 75", False),
            Threshold("c7", 60, "c7: above 60", True),
        ),
        markers=(
            Marker("asi-above-50", points[10].at, points[10].value, "firing", "rise"),
            Marker("asi-above-50", points[40].at, points[40].value, "resolved", "rise"),
            Marker("c7", points[80].at, points[80].value, "firing", "rise"),
        ),
    )
    return replace(spec, **changes)  # type: ignore[arg-type]


def test_a_chart_is_a_png_of_the_promised_size_with_levels_and_markers() -> None:
    image = draw_now(asi_spec())
    assert png_size(image.png) == (image.width, image.height) == (1280, 720)
    assert image.width >= 1200 and image.height >= 675
    assert image.has("series")
    for rule_id in ("asi-above-50", "altseason", "c7"):
        assert image.has("threshold", rule_id)
    fired = [d for d in image.drawn if d.kind == "marker" and d.name == "fired:rise"]
    assert [d.count for d in fired] == [2]
    assert image.has("marker", "resolved")
    assert not image.has("strip_row")


def test_a_level_far_from_the_data_is_named_at_the_edge_not_drawn() -> None:
    spec = asi_spec(
        metric="btc_usd",
        points=year("btc_usd", [60_000 + 50 * n for n in range(366)]),
        thresholds=(Threshold("btc-100k", 1_000_000, "c9: crosses above $1,000,000", True),),
        markers=(),
    )
    image = draw_now(spec)
    assert not image.has("threshold")
    assert image.has("offscale", "btc-100k")


def test_a_new_high_rule_draws_the_running_high() -> None:
    spec = asi_spec(metric="rut", thresholds=(), running_high=True)
    assert draw_now(spec).has("running_high")


def test_the_regime_chart_has_one_strip_row_per_component() -> None:
    days = 30
    labels = ("RUT at new high", "ASI > 50", "Liquidity rising")
    strip = ComponentStrip(
        date(2025, 12, 7),
        tuple(
            StripRow(label, ("yes", "no", "unknown", None) * 7 + ("yes", "no")) for label in labels
        ),
    )
    spec = asi_spec(
        metric="risk_on",
        points=year("risk_on", [float(n % 7) for n in range(days)]),
        thresholds=(Threshold("risk-on-regime", 4, "risk-on-regime: at or above 4 of 6", False),),
        markers=(),
        strip=strip,
        steps=True,
    )
    image = draw_now(spec)
    assert png_size(image.png) == (1280, 720)
    assert {d.name for d in image.drawn if d.kind == "strip_row"} == set(labels)
    assert image.has("threshold", "risk-on-regime")


def test_strip_verdicts_come_from_each_days_last_sample() -> None:
    detail = (("asi", "yes; ASI 61"), ("liquidity", "unknown; unknown: no fresh value"))
    later = (("asi", "no; ASI 49"),)
    points = [
        StoredPoint(datetime(2026, 1, 1, 23, tzinfo=UTC), 2, "radar", detail),
        StoredPoint(datetime(2026, 1, 3, 23, tzinfo=UTC), 1, "radar", later),
    ]
    strip = component_strip(points, date(2026, 1, 1), date(2026, 1, 3))
    rows = {row.label: row.verdicts for row in strip.rows}
    assert rows["ASI > 50"] == ("yes", None, "no")
    assert rows["Liquidity rising"] == ("unknown", None, "unknown")
    assert len(strip.rows) == 6


def test_nothing_to_draw_is_a_chart_error() -> None:
    with pytest.raises(ChartError, match="no asi values"):
        draw_now(asi_spec(points=()))


def test_a_matplotlib_failure_is_translated_to_a_chart_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import bot.charts.render

    def broken(spec: ChartSpec) -> None:
        raise ValueError("date value out of range")

    monkeypatch.setattr(bot.charts.render, "render", broken)
    with pytest.raises(ChartError, match="could not draw the asi chart: date value out of range"):
        draw_now(asi_spec())


async def test_drawing_runs_in_a_worker_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.charts.render as render_module

    threads: list[int] = []
    original = render_module.render

    def spy(spec: ChartSpec) -> object:
        threads.append(threading.get_ident())
        return original(spec)

    monkeypatch.setattr(render_module, "render", spy)
    image, _ = await asyncio.gather(draw(asi_spec()), asyncio.sleep(0))
    assert image.png.startswith(b"\x89PNG")
    assert threads and threads[0] != threading.get_ident()


@pytest.mark.parametrize(
    ("unit", "value", "label"),
    [
        ("USD", 1.3e12, "$1.3T"),
        ("USD", 845e9, "$845B"),
        ("USD", 98_200, "$98.2K"),
        ("USD", 3_250, "$3,250"),
        ("USD bn", 6_200, "$6.2T"),
        ("USD bn", -120, "−$120B"),
        ("USD m", -250, "−$250M"),
        ("%", 59, "59%"),
        ("", 2_400, "2,400"),
        ("", 0.052, "0.052"),
        ("x", 1.5, "1.5x"),
    ],
)
def test_axis_labels_are_compact_in_the_metrics_unit(unit: str, value: float, label: str) -> None:
    assert axis_label(unit, value) == label


def test_a_bot_that_never_draws_never_imports_matplotlib() -> None:
    code = (
        "import sys; import bot.app, bot.cli, bot.commands, bot.charts, bot.charts.data; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"
