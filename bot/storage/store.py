"""The store: every durable fact of the bot, on SQLite or PostgreSQL, behind one facade."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from sqlalchemy import delete

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

    async def prune(self, now: datetime, sample_retention: timedelta) -> None:
        """Drop samples and the delivery log past retention, finished outbox rows after a month.

        Held rows are not finished: they wait for their summary however old.
        """
        async with self._begin() as conn:
            await conn.execute(delete(samples).where(samples.c.at < now - sample_retention))
            await conn.execute(
                delete(deliveries).where(deliveries.c.sent_at < now - sample_retention)
            )
            await conn.execute(
                delete(outbox).where(
                    outbox.c.status.not_in(("pending", "held")),
                    outbox.c.created_at < now - timedelta(days=30),
                )
            )
