"""The outbox: one row per alert and destination, queued with the alert and sent in order."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    Connection,
    Select,
    and_,
    bindparam,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)

from bot.model.delivery import Claimed, Moved, OutboxItem, Outcome, Refused, Retry, Sent
from bot.model.destinations import Destination
from bot.model.rules import ALL_BUILTINS, Rule
from bot.storage.database import Database, UnitBase
from bot.storage.events import EVENT_COLUMNS, event_from_row
from bot.storage.schema import UTCDateTime, deliveries, destinations, events, outbox, subscriptions
from bot.storage.subscriptions import destination_id, move_destination_rows


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
        """Return destinations of `schemes` whose oldest pending row is due, claimed or not."""
        query = (
            _due_heads(now, schemes, claimed_too=True)
            .with_only_columns(outbox.c.destination_id)
            .limit(limit)
        )
        async with self._connect() as conn:
            return [int(row.destination_id) for row in await conn.execute(query)]

    async def pending_count(self) -> int:
        """Return how many deliveries wait."""
        query = select(func.count()).select_from(outbox).where(outbox.c.status == "pending")
        async with self._connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def claim(
        self,
        worker: str,
        schemes: Sequence[str],
        limit: int,
        now: datetime,
        lease: timedelta,
        exclude: Collection[int] = (),
    ) -> list[Claimed]:
        """Claim the due head rows of up to `limit` destinations for `worker`, until `now + lease`.

        Only a destination's oldest pending row can be claimed, and only while nobody holds it,
        so one destination is never sent to twice at once and its order holds. The claim commits
        before anything is sent: no transaction stays open across a network call. The UPDATE
        re-checks the claim, so two replicas that picked the same row cannot both win it.
        """
        if limit <= 0 or not schemes:
            return []
        candidates, take = _claim_statements(tuple(schemes))
        until = now + lease
        params = {
            "now": now,
            "limit": limit,
            "held": list(exclude),
            "worker": worker,
            "until": until,
        }

        def claim_rows(conn: Connection) -> list[Claimed]:
            rows = conn.execute(candidates, params).all()
            if not rows:
                return []
            won = set(conn.execute(take, {**params, "ids": [r.id for r in rows]}).scalars())
            return [
                Claimed(
                    OutboxItem(
                        id=row.id,
                        destination_id=row.destination_id,
                        destination=Destination.parse(row.address),
                        attempts=row.attempts,
                        event=event_from_row(row),
                    ),
                    until,
                )
                for row in rows
                if row.id in won
            ]

        return await self._transact(claim_rows)

    async def release_claims(
        self, row_ids: Sequence[int] | None = None, worker: str | None = None
    ) -> int:
        """Drop claims: `worker`'s on `row_ids`, or every claim (for SQLite's only process)."""
        stmt = (
            update(outbox)
            .where(outbox.c.status == "pending", outbox.c.claimed_by.is_not(None))
            .values(claimed_by=None, claim_until=None)
        )
        if row_ids is not None:
            stmt = stmt.where(outbox.c.id.in_(list(row_ids)), outbox.c.claimed_by == worker)
        async with self._begin() as conn:
            return int((await conn.execute(stmt)).rowcount or 0)

    async def record(self, outcomes: Sequence[Outcome], worker: str, max_attempts: int) -> None:
        """Record the outcomes of many sends in one transaction (a group commit)."""
        if not outcomes:
            return
        sent = [
            {"row_id": o.item.id, "done_at": o.at, "tries": o.item.attempts + 1}
            for o in outcomes
            if isinstance(o.result, Sent)
        ]
        failed = [o for o in outcomes if not isinstance(o.result, Sent)]

        def write(conn: Connection) -> None:
            if sent:
                # Both only touch rows still pending: recording the same answers twice (a retry
                # after a commit whose reply was lost) logs no second delivery.
                conn.execute(_LOG_DELIVERY, sent)
                conn.execute(_MARK_SENT, sent)
            for outcome in failed:
                _record_failure(conn, outcome, worker, max_attempts)

        await self._transact(write)


# The hot path of delivery, built once: a statement built per call costs more than SQLite takes
# to run it.
_NOW = bindparam("now", type_=UTCDateTime())
_LOG_DELIVERY = insert(deliveries).from_select(
    ["destination_id", "event_id", "sent_at"],
    select(
        outbox.c.destination_id, outbox.c.event_id, bindparam("done_at", type_=UTCDateTime())
    ).where(outbox.c.id == bindparam("row_id"), outbox.c.status == "pending"),
)
_MARK_SENT = (
    update(outbox)
    .where(outbox.c.id == bindparam("row_id"), outbox.c.status == "pending")
    .values(
        status="sent",
        sent_at=bindparam("done_at"),
        attempts=bindparam("tries"),
        claimed_by=None,
        claim_until=None,
    )
)
_CLAIMS: dict[tuple[str, ...], tuple[Select[Any], Any]] = {}


def _claim_statements(schemes: tuple[str, ...]) -> tuple[Select[Any], Any]:
    """Return the candidate query and the claiming UPDATE for `schemes`, built once."""
    built = _CLAIMS.get(schemes)
    if built is None:
        candidates = (
            _due_heads(_NOW, schemes)
            .with_only_columns(
                outbox.c.id,
                outbox.c.destination_id,
                outbox.c.attempts,
                destinations.c.address,
                *EVENT_COLUMNS,
            )
            .join_from(outbox, events, events.c.id == outbox.c.event_id)
            .where(outbox.c.id.not_in(bindparam("held", expanding=True)))
            .limit(bindparam("limit"))
        )
        take = (
            update(outbox)
            .where(
                outbox.c.id.in_(bindparam("ids", expanding=True)),
                outbox.c.status == "pending",
                _unclaimed(_NOW),
            )
            .values(claimed_by=bindparam("worker"), claim_until=bindparam("until"))
            .returning(outbox.c.id)
        )
        built = _CLAIMS[schemes] = (candidates, take)
    return built


def _unclaimed(now: Any) -> Any:
    """Return the condition: nobody holds the row, or the holder's lease ran out."""
    return or_(outbox.c.claim_until.is_(None), outbox.c.claim_until <= now)


def _due_heads(now: Any, schemes: Sequence[str], *, claimed_too: bool = False) -> Select[Any]:
    """Return the oldest pending row of each destination of `schemes`, if due (and unclaimed)."""
    prefixes = [
        destinations.c.address == "console"
        if scheme == "console"
        else destinations.c.address.startswith(f"{scheme}:")
        for scheme in schemes
    ]
    # Only a destination's oldest pending row decides: rows behind one that waits out a retry,
    # or one that another worker is sending, must wait too, or order breaks. NOT EXISTS over
    # ix_outbox_pending_destination keeps this cheap however long the backlog: the scan walks
    # pending rows oldest first and stops at the limit, instead of grouping every pending row.
    earlier = outbox.alias("earlier")
    older_pending = (
        select(literal(1))
        .where(
            earlier.c.destination_id == outbox.c.destination_id,
            earlier.c.status == "pending",
            earlier.c.id < outbox.c.id,
        )
        .exists()
    )
    return (
        select(outbox.c.id)
        .select_from(outbox.join(destinations, destinations.c.id == outbox.c.destination_id))
        .where(
            outbox.c.status == "pending",
            outbox.c.next_attempt_at <= now,
            destinations.c.active == true(),
            true() if claimed_too else _unclaimed(now),
            or_(*prefixes) if prefixes else false(),
            ~older_pending,
        )
        .order_by(outbox.c.id)
    )


def _record_failure(conn: Connection, outcome: Outcome, worker: str, max_attempts: int) -> None:
    item, now = outcome.item, outcome.at
    # Only the claim's holder may reschedule a row: if its lease ran out and another worker
    # delivered the row meanwhile, this late failure must not make it pending again.
    held = and_(outbox.c.id == item.id, outbox.c.status == "pending", outbox.c.claimed_by == worker)
    match outcome.result:
        case Retry(delay=delay, error=error):
            attempts = item.attempts + 1
            status: Literal["pending", "dead"] = "dead" if attempts >= max_attempts else "pending"
            conn.execute(
                update(outbox)
                .where(held)
                .values(
                    status=status,
                    attempts=attempts,
                    next_attempt_at=now + delay,
                    last_error=error[:500],
                    claimed_by=None,
                    claim_until=None,
                )
            )
        case Refused(reason=reason):
            conn.execute(
                update(destinations)
                .where(destinations.c.id == item.destination_id)
                .values(active=False, deactivated_reason=reason[:500])
            )
            conn.execute(
                update(outbox)
                .where(
                    outbox.c.destination_id == item.destination_id,
                    outbox.c.status == "pending",
                )
                .values(status="dead", last_error=reason[:500], claimed_by=None, claim_until=None)
            )
        case Moved(new=new):
            # The row stays pending, now under the new address, and is sent there next.
            conn.execute(update(outbox).where(held).values(claimed_by=None, claim_until=None))
            move_destination_rows(conn, item.destination.address, new.address)
