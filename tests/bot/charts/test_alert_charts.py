"""An alert's chart: drawn once per event however many ask, and never a reason to hold it back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import cast

import pytest

from bot.charts import ChartError, ChartImage, ChartSpec, Point
from bot.charts.alerts import AlertCharts
from bot.model.alerts import AlertMessage, FeedNotice
from bot.model.delivery import AlertChart
from bot.model.rules import Rule
from bot.storage import Store

AT = datetime(2026, 1, 5, 12, 30, tzinfo=UTC)
IMAGE = ChartImage(b"\x89PNG", 1280, 720, ())
CHART = AlertChart(IMAGE.png, 1280, 720)


def alert(event_id: int = 1, **changes: object) -> AlertMessage:
    fields: dict[str, object] = {
        "event_id": event_id,
        "rule_id": "altseason",
        "rule_description": "Altcoin season: ASI at or above 75",
        "state": "firing",
        "metric": "asi",
        "value": 76.0,
        "threshold": 75.0,
        "previous": 70.0,
        "source": "coingecko",
        "at": AT,
        "op": ">=",
        "direction": "rise",
    }
    fields.update(changes)
    return AlertMessage(**fields)  # type: ignore[arg-type]


class Drawing:
    """A spec reader and a drawer that count their calls; the draw waits for `release`."""

    def __init__(self, fail: Exception | None = None, data: bool = True) -> None:
        self.specs: list[tuple[str, tuple[str, ...], datetime, datetime]] = []
        self.draws = 0
        self.release = asyncio.Event()
        self.release.set()
        self._fail = fail
        self._data = data

    async def spec(
        self, _store: Store, metric: str, rules: Sequence[Rule], start: datetime, end: datetime
    ) -> ChartSpec | None:
        self.specs.append((metric, tuple(r.id for r in rules), start, end))
        if not self._data:
            return None
        return ChartSpec(metric, metric, "", start, end, (Point(start, 1.0),), "test")

    async def draw(self, _spec: ChartSpec) -> ChartImage:
        self.draws += 1
        await self.release.wait()
        if self._fail is not None:
            raise self._fail
        return IMAGE

    def charts(self, rules: Sequence[Rule] = ()) -> AlertCharts:
        async def all_rules() -> Sequence[Rule]:
            return rules

        return AlertCharts(
            cast(Store, None), all_rules, drawer=self.draw, spec_reader=self.spec, kept=4
        )


async def test_concurrent_asks_for_one_event_share_one_draw() -> None:
    drawing = Drawing()
    drawing.release.clear()
    charts = drawing.charts()
    asks = [asyncio.create_task(charts.image(alert(7))) for _ in range(5)]
    await asyncio.sleep(0.01)
    drawing.release.set()
    images = await asyncio.gather(*asks)
    assert images == [CHART] * 5
    assert drawing.draws == 1
    # Later asks (the rest of a slow fan-out) reuse it too; another event draws its own.
    assert await charts.image(alert(7)) == CHART
    assert await charts.image(alert(8)) == CHART
    assert drawing.draws == 2


async def test_the_chart_ends_at_the_alert_and_shows_its_rule() -> None:
    rule = Rule("altseason", "asi", ">=", 75.0, "Altcoin season")
    drawing = Drawing()
    await drawing.charts([rule, Rule("other", "asi", "<", 10.0, "x")]).image(alert())
    [(metric, rules, start, end)] = drawing.specs
    assert (metric, rules) == ("asi", ("altseason",))
    assert end > AT
    assert (end - start).days == 90


async def test_a_rule_gone_since_is_drawn_from_the_event() -> None:
    drawing = Drawing()
    await drawing.charts().image(alert(rule_id="c9"))
    assert drawing.specs[0][1] == ("c9",)


async def test_notices_get_no_chart() -> None:
    drawing = Drawing()
    notice = alert(rule_id="feed-down", notice=FeedNotice("yahoo", None), op=None)
    assert await drawing.charts().image(notice) is None
    assert drawing.specs == []


async def test_a_failed_draw_is_none_and_logged_once_per_event(
    caplog: pytest.LogCaptureFixture,
) -> None:
    drawing = Drawing(fail=ChartError("could not draw the asi chart: boom"))
    charts = drawing.charts()
    with caplog.at_level(logging.WARNING, logger="bot.charts.alerts"):
        images = await asyncio.gather(*(charts.image(alert(3)) for _ in range(3)))
        assert await charts.image(alert(3)) is None
    assert images == [None, None, None]
    assert drawing.draws == 1
    [record] = caplog.records
    assert "alert 3" in record.getMessage()
    assert "boom" in record.getMessage()


async def test_a_bug_in_drawing_is_none_too(caplog: pytest.LogCaptureFixture) -> None:
    drawing = Drawing(fail=KeyError("bug"))
    with caplog.at_level(logging.ERROR, logger="bot.charts.alerts"):
        assert await drawing.charts().image(alert(4)) is None
    assert len(caplog.records) == 1


async def test_no_stored_values_is_none_without_a_draw(caplog: pytest.LogCaptureFixture) -> None:
    drawing = Drawing(data=False)
    with caplog.at_level(logging.WARNING, logger="bot.charts.alerts"):
        assert await drawing.charts().image(alert(5)) is None
    assert drawing.draws == 0
    assert "no asi values" in caplog.text


async def test_the_cache_is_bounded() -> None:
    drawing = Drawing()
    charts = drawing.charts()
    for event in range(10):
        await charts.image(alert(event))
    await charts.image(alert(0))
    # kept=4: event 0 was dropped long ago and is drawn again.
    assert drawing.draws == 11
