"""The outbox: one row per alert and destination, queued with the alert and sent in order."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func, insert, literal, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.model.delivery import DeliveryOutcome, Moved, OutboxItem, Refused, Retry, SendFn, Sent
from bot.model.destinations import Destination
from bot.model.rules import ALL_BUILTINS, Rule
from bot.storage.database import Database, UnitBase
from bot.storage.events import EVENT_COLUMNS, event_from_row
from bot.storage.schema import UTCDateTime, deliveries, destinations, events, outbox, subscriptions
from bot.storage.subscriptions import destination_id, move_destination_rows
from timing import WallClock


class OutboxUnit(UnitBase):
    """What the engine's transaction queues."""

    async def fan_out(self, fired: Sequence[tuple[int, Rule]], now: datetime) -> int:
        """Queue events for every active, unmuted destination subscribed to their rules.

        INSERT ... SELECT: the database pairs events with subscribers, so a fan-out to ten thousand
        chats never passes through Python row by row. A built-in rule's event goes to the chats
        that named it or chose "all" (never both: `subscribe` keeps them apart, so no row needs
        de-duplicating); the batch's custom events, each for its one owner, go in one statement.
        """
        total = 0
        custom = [event_id for event_id, rule in fired if rule.custom]
        for event_id, rule in fired:
            if not rule.custom:
                total += await self._queue(
                    [event_id], subscriptions.c.rule_id.in_([rule.id, ALL_BUILTINS]), now
                )
        if custom:
            total += await self._queue(custom, subscriptions.c.rule_id == events.c.rule_id, now)
        return total

    async def _queue(self, event_ids: list[int], matches: Any, now: datetime) -> int:
        ts = UTCDateTime()
        chosen = (
            select(
                events.c.id,
                destinations.c.id,
                literal("pending"),
                literal(0),
                literal(now, ts),
                literal(now, ts),
            )
            .select_from(
                events.join(subscriptions, matches).join(
                    destinations, destinations.c.id == subscriptions.c.destination_id
                )
            )
            .where(
                events.c.id.in_(event_ids),
                destinations.c.active == true(),
                or_(destinations.c.muted_until.is_(None), destinations.c.muted_until <= now),
            )
        )
        if len(event_ids) > 1:
            chosen = chosen.order_by(events.c.id)
        stmt = insert(outbox).from_select(
            ["event_id", "destination_id", "status", "attempts", "next_attempt_at", "created_at"],
            chosen,
        )
        result = await self._conn.execute(stmt)
        return int(result.rowcount or 0)

    async def fan_out_to(self, event_id: int, addresses: Sequence[str], now: datetime) -> int:
        """Queue the event for the named destinations, whatever they subscribe to."""
        queued = 0
        for address in addresses:
            dest_id = await destination_id(self._conn, self._store.insert, address, now)
            await self._conn.execute(
                insert(outbox).values(
                    event_id=event_id,
                    destination_id=dest_id,
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
            queued += 1
        return queued


class OutboxStore(Database):
    """Due rows, their delivery, and the outcome of each send."""

    async def due_destinations(
        self, now: datetime, limit: int, schemes: Sequence[str]
    ) -> list[int]:
        """Return destinations of `schemes` with a row due by `now`, longest-waiting first."""
        prefixes = [
            destinations.c.address == "console"
            if scheme == "console"
            else destinations.c.address.startswith(f"{scheme}:")
            for scheme in schemes
        ]
        if not prefixes:
            return []
        # Only a destination's oldest pending row decides: rows behind one that waits out a
        # retry must wait too, or order breaks.
        heads = (
            select(func.min(outbox.c.id).label("head_id"))
            .where(outbox.c.status == "pending")
            .group_by(outbox.c.destination_id)
            .subquery()
        )
        query = (
            select(outbox.c.destination_id)
            .select_from(
                heads.join(outbox, outbox.c.id == heads.c.head_id).join(
                    destinations, destinations.c.id == outbox.c.destination_id
                )
            )
            .where(
                outbox.c.next_attempt_at <= now,
                destinations.c.active == true(),
                or_(*prefixes),
            )
            .order_by(outbox.c.id)
            .limit(limit)
        )
        async with self._connect() as conn:
            return [int(row.destination_id) for row in await conn.execute(query)]

    async def pending_count(self) -> int:
        """Return how many deliveries wait."""
        query = select(func.count()).select_from(outbox).where(outbox.c.status == "pending")
        async with self._connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def _head(self, conn: AsyncConnection, dest_id: int, now: datetime) -> OutboxItem | None:
        query = (
            select(
                outbox.c.id,
                outbox.c.attempts,
                outbox.c.next_attempt_at,
                destinations.c.address,
                *EVENT_COLUMNS,
            )
            .select_from(
                outbox.join(events, events.c.id == outbox.c.event_id).join(
                    destinations, destinations.c.id == outbox.c.destination_id
                )
            )
            .where(
                outbox.c.destination_id == dest_id,
                outbox.c.status == "pending",
                destinations.c.active == true(),
            )
            .order_by(outbox.c.id)
            .limit(1)
        )
        row = (await conn.execute(query)).first()
        if row is None or row.next_attempt_at > now:
            return None
        return OutboxItem(
            id=row.id,
            destination_id=dest_id,
            destination=Destination.parse(row.address),
            attempts=row.attempts,
            event=event_from_row(row),
        )

    async def deliver_next(
        self,
        dest_id: int,
        clock: WallClock,
        send: SendFn,
        max_attempts: int,
    ) -> tuple[OutboxItem, DeliveryOutcome] | None:
        """Send the destination's oldest due row through `send` and record the outcome.

        On PostgreSQL the destination row stays locked (`FOR UPDATE SKIP LOCKED`) from the read to
        the commit, so several workers never send to one destination at once and its order holds;
        a worker that dies releases the lock with its connection. SQLite serves one process, whose
        dispatcher already runs one task per destination, so there the send sits between two
        short transactions instead of holding the single writer's lock.
        """
        if self.dialect == "postgresql":
            async with self._begin() as conn:
                locked = (
                    await conn.execute(
                        select(destinations.c.id)
                        .where(destinations.c.id == dest_id)
                        .with_for_update(skip_locked=True)
                    )
                ).scalar()
                if locked is None:
                    return None
                item = await self._head(conn, dest_id, clock())
                if item is None:
                    return None
                outcome = await send(item)
                await self._record(conn, item, outcome, clock(), max_attempts)
                return item, outcome
        async with self._begin() as conn:
            item = await self._head(conn, dest_id, clock())
        if item is None:
            return None
        outcome = await send(item)
        async with self._begin() as conn:
            await self._record(conn, item, outcome, clock(), max_attempts)
        return item, outcome

    async def _record(
        self,
        conn: AsyncConnection,
        item: OutboxItem,
        outcome: DeliveryOutcome,
        now: datetime,
        max_attempts: int,
    ) -> None:
        row = outbox.c.id == item.id
        attempts = item.attempts + 1
        match outcome:
            case Sent():
                await conn.execute(
                    update(outbox).where(row).values(status="sent", sent_at=now, attempts=attempts)
                )
                await conn.execute(
                    insert(deliveries).values(
                        destination_id=item.destination_id, event_id=item.event.id, sent_at=now
                    )
                )
            case Retry(delay=delay, error=error):
                status: Literal["pending", "dead"] = (
                    "dead" if attempts >= max_attempts else "pending"
                )
                await conn.execute(
                    update(outbox)
                    .where(row)
                    .values(
                        status=status,
                        attempts=attempts,
                        next_attempt_at=now + delay,
                        last_error=error[:500],
                    )
                )
            case Refused(reason=reason):
                await conn.execute(
                    update(destinations)
                    .where(destinations.c.id == item.destination_id)
                    .values(active=False, deactivated_reason=reason[:500])
                )
                await conn.execute(
                    update(outbox)
                    .where(
                        outbox.c.destination_id == item.destination_id,
                        outbox.c.status == "pending",
                    )
                    .values(status="dead", last_error=reason[:500])
                )
            case Moved(new=new):
                await move_destination_rows(conn, item.destination.address, new.address)
