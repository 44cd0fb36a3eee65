"""The store: every durable fact of the bot, on SQLite or PostgreSQL, behind one facade."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select

from bot.storage.events import EventsStore, EventsUnit
from bot.storage.metrics import MetricsStore, MetricsUnit
from bot.storage.outbox import OutboxStore, OutboxUnit
from bot.storage.rules import RulesStore, RulesUnit
from bot.storage.schema import deliveries, outbox, samples
from bot.storage.subscriptions import SubscriptionsStore


class Unit(MetricsUnit, RulesUnit, EventsUnit, OutboxUnit):
    """One transaction of the rule engine: samples, states, events and outbox rows commit together."""


class Store(MetricsStore, RulesStore, SubscriptionsStore, EventsStore, OutboxStore):
    """Durable state behind the bot; every method is one short transaction unless it says otherwise."""

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[Unit]:
        """Open one transaction for the rule engine."""
        async with self._begin() as conn:
            yield Unit(conn, self)

    def _utc_day(self, at: Any) -> ColumnElement[Any]:
        """Return the UTC day of a timestamp expression, as the dialect writes it."""
        if self.dialect == "sqlite":
            # SQLite keeps UTC timestamps as text; date() reads their day.
            return func.date(at)
        return func.date(func.timezone("UTC", at))

    async def prune(self, now: datetime, sample_retention: timedelta) -> None:
        """Drop old delivery log and finished outbox rows, and old samples but each day's last.

        Held rows are not finished: they wait for their summary however old.
        """
        later = samples.alias("later")
        following = (
            select(func.min(later.c.at))
            .where(later.c.metric == samples.c.metric, later.c.at > samples.c.at)
            .scalar_subquery()
        )
        async with self._begin() as conn:
            # Past retention each metric keeps its last sample of every UTC day, for backtests:
            # only a sample followed by another the same day goes. The next one is found through
            # the (metric, at) index, so this stays cheap on years of samples.
            await conn.execute(
                delete(samples).where(
                    samples.c.at < now - sample_retention,
                    self._utc_day(following) == self._utc_day(samples.c.at),
                )
            )
            await conn.execute(
                delete(deliveries).where(deliveries.c.sent_at < now - sample_retention)
            )
            await conn.execute(
                delete(outbox).where(
                    outbox.c.status.not_in(("pending", "held")),
                    outbox.c.created_at < now - timedelta(days=30),
                )
            )
