"""A chart on every alert: drawn once per event, however many destinations it goes to.

The notifiers of the chat front-ends ask `AlertCharts.image(message)` before they send. The
first ask for an event reads its metric's history and draws it in a worker thread; every other
ask for the same event (the rest of its fan-out, on any platform) waits for that one draw and
gets the same image. A chart that cannot be drawn is `None`, logged once for the event: the
alert then goes out as text, never later.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from bot.charts import ChartError, ChartImage, ChartSpec, draw
from bot.charts.data import chart_spec
from bot.model.alerts import AlertMessage
from bot.model.delivery import AlertChart, ChartSource
from bot.model.rules import Rule
from bot.storage import Store, StoreUnavailable

__all__ = ["ALERT_CHART_DAYS", "AlertCharts", "ChartSource"]

log = logging.getLogger(__name__)

# The span an alert's chart shows, ending at the alert: as long as /chart's default.
ALERT_CHART_DAYS = 90
# Events whose chart (or its absence) is kept: an alert's fan-out is over long before 64 more
# events have started theirs.
_KEPT = 64

Drawer = Callable[[ChartSpec], Awaitable[ChartImage]]
SpecReader = Callable[[Store, str, Sequence[Rule], datetime, datetime], Awaitable[ChartSpec | None]]


class AlertCharts:
    """Draw each alert event's chart once and hand it to every destination of the event."""

    def __init__(
        self,
        store: Store,
        rules: Callable[[], Awaitable[Sequence[Rule]]],
        *,
        days: int = ALERT_CHART_DAYS,
        kept: int = _KEPT,
        drawer: Drawer = draw,
        spec_reader: SpecReader = chart_spec,
    ) -> None:
        self._store = store
        self._rules = rules
        self._span = timedelta(days=days)
        self._kept = kept
        self._draw = drawer
        self._spec = spec_reader
        # Per event: its chart, None when it has none, or the draw still running.
        self._charts: OrderedDict[int, asyncio.Future[AlertChart | None]] = OrderedDict()
        self.draws = 0

    async def image(self, message: AlertMessage) -> AlertChart | None:
        """Return the chart of `message`'s event, drawing it on the first ask; None without one.

        Operator notices have none. Concurrent asks for one event share one draw.
        """
        if message.notice is not None:
            return None
        event = message.event_id
        pending = self._charts.get(event)
        if pending is None:
            pending = asyncio.get_running_loop().create_future()
            self._charts[event] = pending
            self._trim()
            try:
                pending.set_result(await self._drawn(message))
            except BaseException:
                # Cancelled mid-draw: whoever waits (and the next ask) starts over.
                self._charts.pop(event, None)
                if not pending.done():
                    pending.cancel()
                raise
            return pending.result()
        self._charts.move_to_end(event)
        try:
            # Shielded: a waiter cancelled does not cancel the draw the others wait for.
            return await asyncio.shield(pending)
        except asyncio.CancelledError:
            if pending.cancelled():
                # The drawing task was cancelled, not this one: ask again.
                return await self.image(message)
            raise

    def _trim(self) -> None:
        while len(self._charts) > self._kept:
            oldest, future = next(iter(self._charts.items()))
            if not future.done():
                # Still being drawn: keep it, it will be trimmed on a later ask.
                break
            del self._charts[oldest]

    async def _drawn(self, message: AlertMessage) -> AlertChart | None:
        try:
            rules = [r for r in await self._rules() if r.id == message.rule_id]
            if not rules and message.op is not None:
                # The rule is gone (a custom alert removed since): draw the level it fired on.
                rules = [
                    Rule(
                        message.rule_id,
                        message.metric,
                        message.op,
                        message.threshold,
                        message.rule_description,
                    )
                ]
            # A second past the alert, so its own marker is on the chart.
            end = message.at + timedelta(seconds=1)
            spec = await self._spec(self._store, message.metric, rules, end - self._span, end)
            if spec is None:
                log.warning(
                    "alert %d (%s) goes without a chart: no %s values stored",
                    message.event_id,
                    message.rule_id,
                    message.metric,
                )
                return None
            self.draws += 1
            image = await self._draw(spec)
            return AlertChart(image.png, image.width, image.height)
        except (ChartError, StoreUnavailable) as exc:
            log.warning(
                "alert %d (%s) goes without a chart: %s", message.event_id, message.rule_id, exc
            )
        except Exception:
            # A bug in drawing must never hold an alert back.
            log.exception("alert %d (%s) goes without a chart", message.event_id, message.rule_id)
        return None
