"""Charts of a metric's history with its rules: what the specs hold, and drawing them off the loop.

matplotlib is imported only by `bot.charts.render`, which this package loads the first time a
chart is drawn: a bot that never draws never pays for it.
"""

from __future__ import annotations

import asyncio
import logging

from bot.charts.spec import (
    HEIGHT,
    WIDTH,
    ChartError,
    ChartImage,
    ChartSpec,
    ComponentStrip,
    Drawn,
    Marker,
    Point,
    StripRow,
    Threshold,
    axis_label,
    compact_number,
)

log = logging.getLogger(__name__)

__all__ = [
    "HEIGHT",
    "WIDTH",
    "ChartError",
    "ChartImage",
    "ChartSpec",
    "ComponentStrip",
    "Drawn",
    "Marker",
    "Point",
    "StripRow",
    "Threshold",
    "axis_label",
    "compact_number",
    "draw",
    "draw_now",
]


def draw_now(spec: ChartSpec) -> ChartImage:
    """Draw `spec` in this thread; raise `ChartError` when matplotlib cannot."""
    if not spec.points:
        raise ChartError(f"no {spec.metric} values to draw")
    try:
        from bot.charts.render import render  # noqa: PLC0415 - matplotlib only when drawing

        return render(spec)
    except ImportError as exc:
        raise ChartError(f"charts need matplotlib: {exc}") from exc
    except (ValueError, TypeError, OverflowError, RuntimeError, MemoryError) as exc:
        # matplotlib's failures (a date out of range, a backend problem) end here, one line.
        raise ChartError(f"could not draw the {spec.metric} chart: {exc}") from exc


async def draw(spec: ChartSpec) -> ChartImage:
    """Draw `spec` in a worker thread, keeping the event loop free."""
    return await asyncio.to_thread(draw_now, spec)
