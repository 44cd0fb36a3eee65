"""Draw a `ChartSpec` on matplotlib's Agg canvas. Imported only when a chart is drawn.

Only the object-oriented API is used (a `Figure` on a `FigureCanvasAgg`, never pyplot): no global
figure registry, no GUI backend, and nothing global changed, so rendering from a worker thread is
safe. A lock still draws one chart at a time, because matplotlib's font and text caches are shared.
"""

from __future__ import annotations

import gc
import io
import math
import threading
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import matplotlib.dates as mdates
import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator

from bot.charts.spec import (
    ChartImage,
    ChartSpec,
    ComponentStrip,
    Drawn,
    DrawnKind,
    Threshold,
    axis_label,
)
from bot.model.metrics import metric_info

_LOCK = threading.Lock()
DPI = 160

# matplotlib and its fonts add ~50,000 long-lived objects; left out of later full garbage
# collections, they cost the event loop nothing (see `bot.app.settle_memory`).
gc.freeze()

INK = "#111827"
MUTED = "#6b7280"
GRID = "#e5e7eb"
SERIES = "#2563eb"
BUILTIN = "#d97706"
CUSTOM = "#7c3aed"
RISE = "#16a34a"
FALL = "#dc2626"
RESOLVED = "#6b7280"
# Strip cells: no sample that day, unknown, disagrees, agrees.
STRIP_COLOURS = ("#f3f4f6", "#d1d5db", "#f87171", "#22c55e")
_VERDICT_CODE = {None: 0, "unknown": 1, "no": 2, "yes": 3}

TITLE_SIZE = 17
SUBTITLE_SIZE = 11
TICK_SIZE = 11
LABEL_SIZE = 10.5
SMALL_SIZE = 9.5
# A level further than this share of the data's range beyond it would squash the series flat:
# it is named at the edge instead of drawn.
_FAR = 0.6
# The figure's outer margin, left and right, as a share of its width.
_MARGIN = 0.035


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _x(at: datetime | date) -> float:
    """Return matplotlib's date number for `at`: days since its default epoch, 1970-01-01 UTC."""
    if not isinstance(at, datetime):
        at = datetime.combine(at, datetime.min.time(), UTC)
    return (at - _EPOCH) / timedelta(days=1)


def _xs(times: Sequence[datetime]) -> list[float]:
    return [_x(at) for at in times]


def render(spec: ChartSpec) -> ChartImage:
    """Draw `spec` and return the PNG with what was drawn."""
    with _LOCK:
        figure = Figure(figsize=(spec.width / DPI, spec.height / DPI), dpi=DPI, facecolor="white")
        FigureCanvasAgg(figure)
        strip_rows = len(spec.strip.rows) if spec.strip is not None else 0
        left = 0.2 if strip_rows else _MARGIN
        if strip_rows:
            grid = figure.add_gridspec(
                2,
                1,
                height_ratios=(3, 2.1),
                hspace=0.12,
                left=left,
                right=0.88,
                top=0.8,
                bottom=0.16,
            )
            axes = figure.add_subplot(grid[0])
            strip_axes = figure.add_subplot(grid[1], sharex=axes)
        else:
            figure.subplots_adjust(left=left, right=0.88, top=0.8, bottom=0.13)
            axes = figure.add_subplot()
        _frame(axes)
        _series(axes, spec)
        handles, shown = _levels(axes, spec)
        handles += _markers(axes, spec)
        _time_axis(axes, spec)
        _label_levels(axes, spec, shown)
        keys: list[tuple[Artist, str]] = []
        if spec.strip is not None:
            keys = _strip(strip_axes, spec.strip)
            axes.tick_params(axis="x", labelbottom=False)
        _texts(figure, spec, handles, keys)
        buffer = io.BytesIO()
        # zlib level 3: a third faster than the default 6, for about a sixth more bytes.
        figure.savefig(
            buffer, format="png", dpi=DPI, facecolor="white", pil_kwargs={"compress_level": 3}
        )
        drawn = _drawn(figure)
    return ChartImage(buffer.getvalue(), spec.width, spec.height, drawn)


def _frame(axes: Axes) -> None:
    for side in ("top", "left", "right"):
        axes.spines[side].set_visible(False)
    axes.spines["bottom"].set_color(GRID)
    axes.yaxis.tick_right()
    axes.tick_params(axis="both", labelsize=TICK_SIZE, colors=INK, length=0, pad=6)
    axes.grid(axis="y", color=GRID, linewidth=0.9)
    axes.set_axisbelow(True)


def _series(axes: Axes, spec: ChartSpec) -> None:
    x = _xs([p.at for p in spec.points])
    y = [p.value for p in spec.points]
    unit = metric_info(spec.metric).unit
    if spec.steps:
        axes.step(x, y, where="post", color=SERIES, linewidth=2.4, gid="series")
        axes.set_ylim(-0.4, 6.6)
        axes.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=7))
    else:
        style = "o-" if len(x) == 1 else "-"
        axes.plot(x, y, style, color=SERIES, linewidth=2.2, markersize=5, gid="series")
        axes.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: axis_label(unit, v)))
    # The latest value, tagged on the axis the way trading screens do.
    last = spec.points[-1]
    axes.annotate(
        metric_info(spec.metric).format(last.value) if not spec.steps else f"{last.value:.0f}",
        xy=(1, last.value),
        xycoords=("axes fraction", "data"),
        xytext=(4, 0),
        textcoords="offset points",
        ha="left",
        va="center",
        color="white",
        fontsize=LABEL_SIZE,
        fontweight="bold",
        bbox={"boxstyle": "round,pad=0.3", "facecolor": SERIES, "edgecolor": "none"},
        annotation_clip=False,
        gid="last_value",
    )


def _levels(axes: Axes, spec: ChartSpec) -> tuple[list[tuple[Artist, str]], list[Threshold]]:
    """Draw the rules' levels; name those too far from the data at its edge instead."""
    values = [p.value for p in spec.points]
    low, high = min(values), max(values)
    reach = max(high - low, abs(high) * 0.02, 1e-9) * _FAR
    handles: list[tuple[Artist, str]] = []
    far_above: list[Threshold] = []
    far_below: list[Threshold] = []
    shown: list[Threshold] = []
    for level in spec.thresholds:
        if level.value > high + reach and not spec.steps:
            far_above.append(level)
        elif level.value < low - reach and not spec.steps:
            far_below.append(level)
        else:
            shown.append(level)
    for level in shown:
        axes.axhline(
            level.value,
            color=CUSTOM if level.custom else BUILTIN,
            linewidth=1.4,
            linestyle=(0, (6, 3)),
            gid=f"threshold:{level.rule_id}",
        )
    for levels, top in ((far_above, True), (far_below, False)):
        if levels:
            names = "; ".join(level.label for level in levels)
            axes.text(
                0.01,
                0.97 if top else 0.03,
                f"{'↑' if top else '↓'} off the chart: {names}",
                transform=axes.transAxes,
                ha="left",
                va="top" if top else "bottom",
                color=MUTED,
                fontsize=LABEL_SIZE,
                gid="offscale:" + ",".join(level.rule_id for level in levels),
            )
    if any(not level.custom for level in shown):
        handles.append((Line2D([], [], color=BUILTIN, linestyle=(0, (6, 3))), "rule level"))
    if any(level.custom for level in shown):
        handles.append((Line2D([], [], color=CUSTOM, linestyle=(0, (6, 3))), "your alert"))
    if spec.running_high:
        running = np.maximum.accumulate(np.asarray(values, dtype=float))
        axes.step(
            _xs([p.at for p in spec.points]),
            running,
            where="post",
            color=BUILTIN,
            linewidth=1.4,
            linestyle=(0, (1, 2)),
            gid="running_high",
        )
        handles.append(
            (Line2D([], [], color=BUILTIN, linestyle=(0, (1, 2))), "highest close so far")
        )
    return handles, shown


# Where a level's label may start, as shares of the width: every few percent, left preferred.
_LABEL_STARTS = tuple(0.01 + 0.03 * n for n in range(33))
# A label's height as a share of the plot's.
_LABEL_HEIGHT = 0.075


def _label_levels(axes: Axes, spec: ChartSpec, shown: Sequence[Threshold]) -> None:
    """Name each drawn level next to it, where the series, markers and other names leave room."""
    x_low, x_high = axes.get_xlim()
    y_low, y_high = axes.get_ylim()

    def to_axes(at: float, value: float) -> tuple[float, float]:
        return (at - x_low) / (x_high - x_low), (value - y_low) / (y_high - y_low)

    # A marker hidden under a name is worse than a stretch of line: it weighs more.
    points = [(*to_axes(_x(p.at), p.value), 1.0) for p in spec.points]
    points += [(*to_axes(_x(m.at), m.value), 8.0) for m in spec.markers]
    xs, ys, weights = (np.asarray(column, dtype=float) for column in zip(*points, strict=True))
    taken: list[tuple[float, float, float, float]] = []
    renderer = axes.figure.canvas.get_renderer()  # type: ignore[attr-defined]
    plot_width = axes.get_window_extent(renderer).width
    for level in shown:
        text = level.label + (" (yours)" if level.custom else "")
        probe = axes.text(0, 0, text, fontsize=LABEL_SIZE, fontweight="bold")
        width = probe.get_window_extent(renderer).width / plot_width
        probe.remove()
        level_y = (level.value - y_low) / (y_high - y_low)
        best: tuple[float, float, bool] | None = None
        best_cost = math.inf
        for above in (True, False):
            bottom = level_y if above else level_y - _LABEL_HEIGHT
            in_band = (ys >= bottom - 0.02) & (ys <= bottom + _LABEL_HEIGHT)
            for rank, start in enumerate(_LABEL_STARTS):
                box = (start, bottom, start + width, bottom + _LABEL_HEIGHT)
                inside = in_band & (xs >= box[0] - 0.015) & (xs <= box[2] + 0.015)
                hits = float(weights[inside].sum())
                clash = sum(_overlap(box, other) for other in taken)
                outside = box[1] < 0 or box[3] > 1 or box[2] > 1
                cost = hits + 100 * clash + 50 * outside + rank * 0.05 + (0 if above else 0.3)
                if cost < best_cost:
                    best, best_cost = (start, bottom, above), cost
        assert best is not None
        start, bottom, above = best
        taken.append((start, bottom, start + width, bottom + _LABEL_HEIGHT))
        colour = CUSTOM if level.custom else BUILTIN
        axes.annotate(
            text,
            xy=(start, level.value),
            xycoords=("axes fraction", "data"),
            xytext=(0, 3 if above else -3),
            textcoords="offset points",
            ha="left",
            va="bottom" if above else "top",
            color=colour,
            fontsize=LABEL_SIZE,
            fontweight="bold",
            bbox={
                "boxstyle": "square,pad=0.1",
                "facecolor": "white",
                "edgecolor": "none",
                "alpha": 0.7,
            },
            zorder=4,
        )


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _markers(axes: Axes, spec: ChartSpec) -> list[tuple[Artist, str]]:
    handles: list[tuple[Artist, str]] = []
    fired = [m for m in spec.markers if m.state == "firing"]
    resolved = [m for m in spec.markers if m.state == "resolved"]
    for direction, shape, colour in (("rise", "^", RISE), ("fall", "v", FALL)):
        group = [m for m in fired if (m.direction or "rise") == direction]
        if group:
            axes.scatter(
                _xs([m.at for m in group]),
                [m.value for m in group],
                marker=shape,
                s=110,
                color=colour,
                edgecolors="white",
                linewidths=1.2,
                zorder=5,
                gid=f"marker:fired:{direction}",
            )
            handles.append(
                (
                    Line2D([], [], marker=shape, color=colour, linestyle="none", markersize=9),
                    "alert fired",
                )
            )
    if resolved:
        axes.scatter(
            _xs([m.at for m in resolved]),
            [m.value for m in resolved],
            marker="o",
            s=70,
            facecolors="white",
            edgecolors=RESOLVED,
            linewidths=1.8,
            zorder=5,
            gid="marker:resolved",
        )
        handles.append(
            (
                Line2D(
                    [],
                    [],
                    marker="o",
                    color=RESOLVED,
                    markerfacecolor="white",
                    linestyle="none",
                    markersize=8,
                ),
                "resolved",
            )
        )
    return handles


def _time_axis(axes: Axes, spec: ChartSpec) -> None:
    first = max(spec.start, spec.points[0].at)
    span = max(spec.end - first, timedelta(hours=1))
    axes.set_xlim(_x(first - span * 0.01), _x(spec.end + span * 0.015))
    # matplotlib's date ticking is untyped in its stubs.
    locator = mdates.AutoDateLocator(minticks=4, maxticks=8)  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_locator(locator)
    # No offset ("2026-Jan") under the axis: it would sit on the footer, and the subtitle dates.
    concise = mdates.ConciseDateFormatter(locator, show_offset=False)  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_formatter(concise)


def _strip(axes: Axes, strip: ComponentStrip) -> list[tuple[Artist, str]]:
    days = len(strip.rows[0].verdicts) if strip.rows else 0
    codes = np.array([[_VERDICT_CODE[v] for v in row.verdicts] for row in strip.rows], dtype=float)
    start = _x(strip.first)
    axes.imshow(
        codes,
        cmap=ListedColormap(STRIP_COLOURS),
        vmin=-0.5,
        vmax=3.5,
        aspect="auto",
        interpolation="nearest",
        extent=(start, start + days, len(strip.rows), 0),
        gid="strip",
    )
    for index in range(1, len(strip.rows)):
        axes.axhline(index, color="white", linewidth=2.5)
    if days <= 62:
        for day in range(1, days):
            axes.axvline(start + day, color="white", linewidth=1)
    axes.set_yticks([i + 0.5 for i in range(len(strip.rows))], [row.label for row in strip.rows])
    for label, row in zip(axes.get_yticklabels(), strip.rows, strict=True):
        label.set_gid(f"strip_row:{row.label}")
    axes.tick_params(axis="y", labelsize=LABEL_SIZE, colors=INK, length=0, pad=6)
    axes.tick_params(axis="x", labelsize=TICK_SIZE, colors=INK, length=0, pad=6)
    for side in ("top", "left", "right", "bottom"):
        axes.spines[side].set_visible(False)
    names = ("no data", "unknown", "disagrees", "agrees")
    return [
        (Patch(facecolor=STRIP_COLOURS[code], edgecolor="none"), names[code]) for code in (3, 2, 1)
    ]


def _texts(
    figure: Figure,
    spec: ChartSpec,
    handles: Sequence[tuple[Artist, str]],
    keys: Sequence[tuple[Artist, str]],
) -> None:
    figure.text(
        _MARGIN,
        0.955,
        spec.title,
        ha="left",
        va="top",
        fontsize=TITLE_SIZE,
        fontweight="bold",
        color=INK,
    )
    figure.text(
        _MARGIN, 0.885, spec.subtitle, ha="left", va="top", fontsize=SUBTITLE_SIZE, color=MUTED
    )
    figure.text(
        _MARGIN,
        0.025,
        f"Source: {spec.provider}",
        ha="left",
        va="bottom",
        fontsize=SMALL_SIZE,
        color=MUTED,
    )
    figure.text(
        1 - _MARGIN,
        0.025,
        "Risk-On Radar",
        ha="right",
        va="bottom",
        fontsize=SMALL_SIZE,
        fontweight="bold",
        color=MUTED,
    )
    unique: dict[str, Artist] = {}
    for handle, label in handles:
        unique.setdefault(label, handle)
    if unique:
        figure.legend(
            list(unique.values()),
            list(unique),
            loc="upper right",
            bbox_to_anchor=(1 - _MARGIN + 0.01, 0.975),
            ncol=len(unique) if len(unique) <= 3 else 2,
            frameon=False,
            fontsize=LABEL_SIZE,
            handlelength=1.6,
            columnspacing=1.2,
            labelcolor=INK,
        )
    if keys:
        # The strip's colours, centred in the footer line, under the strip they explain.
        figure.legend(
            [handle for handle, _ in keys],
            [label for _, label in keys],
            loc="lower center",
            bbox_to_anchor=(0.62, -0.005),
            ncol=len(keys),
            frameon=False,
            fontsize=SMALL_SIZE,
            handlelength=1.2,
            labelcolor=INK,
        )


def _drawn(figure: Figure) -> tuple[Drawn, ...]:
    """Read back the named artists in the figure: what a reader will actually see."""
    found: list[Drawn] = []
    for artist in figure.findobj(lambda a: bool(a.get_gid())):
        gid = str(artist.get_gid())
        kind, _, name = gid.partition(":")
        if kind not in ("series", "threshold", "marker", "strip_row", "running_high", "offscale"):
            continue
        count = 1
        offsets = getattr(artist, "get_offsets", None)
        if kind == "marker" and offsets is not None:
            count = len(offsets())
        found.append(Drawn(_kind(kind), name, count))
    return tuple(found)


def _kind(text: str) -> DrawnKind:
    kinds: dict[str, DrawnKind] = {
        "series": "series",
        "threshold": "threshold",
        "marker": "marker",
        "strip_row": "strip_row",
        "running_high": "running_high",
        "offscale": "offscale",
    }
    return kinds[text]
