"""Alert events: what fired or resolved, and which chats it reached."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select

from bot.model.alerts import (
    HistoryEntry,
    NewEvent,
    StoredEvent,
    decode_detail,
    encode_detail,
    parse_op,
)
from bot.storage.database import Database, UnitBase
from bot.storage.schema import deliveries, destinations, events, outbox


def event_from_row(row: Any) -> StoredEvent:
    components, notice = decode_detail(row.detail)
    return StoredEvent(
        id=row.event_id,
        rule_id=row.rule_id,
        kind=row.kind,
        metric=row.metric,
        value=row.value,
        previous=row.previous,
        threshold=row.threshold,
        source=row.source,
        at=row.at,
        description=row.description,
        op=parse_op(row.op),
        components=components,
        notice=notice,
    )


EVENT_COLUMNS = (
    events.c.id.label("event_id"),
    events.c.rule_id,
    events.c.kind,
    events.c.metric,
    events.c.value,
    events.c.previous,
    events.c.threshold,
    events.c.source,
    events.c.at,
    events.c.description,
    events.c.op,
    events.c.detail,
)


class EventsUnit(UnitBase):
    """What the engine's transaction records of events."""

    async def add_events(self, items: Sequence[NewEvent], now: datetime) -> list[int]:
        """Record alert events (at most one per rule), returning their ids in the same order."""
        if not items:
            return []
        rows = [
            {
                "rule_id": item.rule.id,
                "kind": item.kind,
                "metric": item.rule.metric,
                "value": item.value,
                "previous": item.previous,
                "threshold": item.rule.threshold,
                "source": item.source,
                "at": item.at,
                "created_at": now,
                "description": item.rule.description,
                "op": None if item.notice is not None else item.rule.op,
                "detail": encode_detail(item.components, item.notice),
            }
            for item in items
        ]
        # Rows come back in no promised order; asking for one makes SQLAlchemy insert row by row.
        # One event per rule in a batch, so the rule id tells which id is whose.
        stmt = insert(events).returning(events.c.id, events.c.rule_id)
        result = await self._conn.execute(stmt, rows)
        ids = {row.rule_id: int(row.id) for row in result}
        return [ids[item.rule.id] for item in items]


class EventsStore(Database):
    """The event history."""

    async def delivered_events(self, address: str, limit: int) -> list[StoredEvent]:
        """Return the newest events delivered to `address`, newest first."""
        query = (
            select(*EVENT_COLUMNS)
            .select_from(deliveries.join(events).join(destinations))
            .where(destinations.c.address == address)
            .order_by(deliveries.c.id.desc())
            .limit(limit)
        )
        async with self._connect() as conn:
            return [event_from_row(row) for row in await conn.execute(query)]

    async def history(self, address: str, limit: int) -> list[HistoryEntry]:
        """Return the newest alerts of `address`, newest first: those still held, then those sent.

        A held alert is one whose row waits held, or released but its summary not yet sent.
        """
        waiting = (
            select(*EVENT_COLUMNS)
            .select_from(
                outbox.join(events, events.c.id == outbox.c.event_id).join(
                    destinations, destinations.c.id == outbox.c.destination_id
                )
            )
            .where(
                destinations.c.address == address,
                or_(
                    outbox.c.status == "held",
                    and_(outbox.c.status == "pending", outbox.c.held.is_not(None)),
                ),
            )
            .order_by(outbox.c.id.desc())
            .limit(limit)
        )
        sent = (
            select(*EVENT_COLUMNS, deliveries.c.held)
            .select_from(deliveries.join(events).join(destinations))
            .where(destinations.c.address == address)
            .order_by(deliveries.c.id.desc())
            .limit(limit)
        )
        async with self._connect() as conn:
            found = [
                HistoryEntry(event_from_row(row), "held") for row in await conn.execute(waiting)
            ]
            if len(found) < limit:
                found += [
                    HistoryEntry(event_from_row(row), "sent" if row.held is None else "summary")
                    for row in await conn.execute(sent.limit(limit - len(found)))
                ]
        return found

    async def rule_events(
        self, rule_ids: Sequence[str], start: datetime, end: datetime
    ) -> list[StoredEvent]:
        """Return the events of these rules with start <= at <= end, oldest first."""
        if not rule_ids:
            return []
        query = (
            select(*EVENT_COLUMNS)
            .where(events.c.rule_id.in_(list(rule_ids)), events.c.at >= start, events.c.at <= end)
            .order_by(events.c.at, events.c.id)
        )
        async with self._connect() as conn:
            return [event_from_row(row) for row in await conn.execute(query)]

    async def recent_events(self, limit: int) -> list[StoredEvent]:
        """Return the newest events, newest first."""
        query = select(*EVENT_COLUMNS).order_by(events.c.id.desc()).limit(limit)
        async with self._connect() as conn:
            return [event_from_row(row) for row in await conn.execute(query)]
