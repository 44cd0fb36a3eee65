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
    case,
    false,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    true,
    update,
)

from bot.model.delivery import (
    Claimed,
    HeldRow,
    Moved,
    OutboxItem,
    Outcome,
    Refused,
    Retry,
    Sent,
)
from bot.model.destinations import Destination
from bot.model.quiet import HoldReason, zone_or_utc
from bot.model.rules import ALL_BUILTINS, Rule
from bot.storage.database import Database, UnitBase
from bot.storage.events import EVENT_COLUMNS, event_from_row
from bot.storage.holds import quiet_now, release_held
from bot.storage.schema import UTCDateTime, deliveries, destinations, events, outbox, subscriptions
from bot.storage.subscriptions import destination_id, move_destination_rows

# The most held alerts one summary lists: a longer hold goes out as several summaries, each one
# message that fits Telegram's 4,096 characters.
SUMMARY_MAX = 25


class OutboxUnit(UnitBase):
    """What the engine's transaction queues."""

    async def fan_out(self, fired: Sequence[tuple[int, Rule]], now: datetime) -> int:
        """Queue events for every active destination subscribed to their rules.

        A destination muted or inside its quiet hours gets its row held (status `held`), to go
        out in a summary once the hold ends; rows of holds that have ended are released first,
        so they stay ahead of the new rows.

        INSERT ... SELECT: the database pairs events with subscribers, so a fan-out to ten thousand
        chats never passes through Python row by row. A built-in rule's event goes to the chats
        that named it or chose "all" (never both: `subscribe` keeps them apart, so no row needs
        de-duplicating); the batch's custom events, each for its one owner, go in one statement.
        """
        if not fired:
            return 0
        await release_held(self._conn, now)
        quiet = await quiet_now(self._conn, now)
        total = 0
        custom = [event_id for event_id, rule in fired if rule.custom]
        for event_id, rule in fired:
            if not rule.custom:
                total += await self._queue(
                    [event_id], subscriptions.c.rule_id.in_([rule.id, ALL_BUILTINS]), now, quiet
                )
        if custom:
            total += await self._queue(
                custom, subscriptions.c.rule_id == events.c.rule_id, now, quiet
            )
        return total

    async def _queue(
        self, event_ids: list[int], matches: Any, now: datetime, quiet: list[int]
    ) -> int:
        ts = UTCDateTime()
        muted = and_(destinations.c.muted_until.is_not(None), destinations.c.muted_until > now)
        in_quiet = destinations.c.id.in_(quiet) if quiet else false()
        held = case((muted, literal("mute")), (in_quiet, literal("quiet")), else_=null())
        chosen = (
            select(
                events.c.id,
                destinations.c.id,
                case((or_(muted, in_quiet), literal("held")), else_=literal("pending")),
                literal(0),
                literal(now, ts),
                literal(now, ts),
                held,
            )
            .select_from(
                events.join(subscriptions, matches).join(
                    destinations, destinations.c.id == subscriptions.c.destination_id
                )
            )
            .where(
                events.c.id.in_(event_ids),
                destinations.c.active == true(),
            )
        )
        if len(event_ids) > 1:
            chosen = chosen.order_by(events.c.id)
        stmt = insert(outbox).from_select(
            [
                "event_id",
                "destination_id",
                "status",
                "attempts",
                "next_attempt_at",
                "created_at",
                "held",
            ],
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

    async def release_due(self, now: datetime) -> int:
        """Make pending every held row whose mute or quiet hours have ended; return how many."""
        async with self._begin() as conn:
            return await release_held(conn, now)

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
        so one destination is never sent to twice at once and its order holds. A head row that
        was held brings the held rows queued right behind it (up to `SUMMARY_MAX`): they go out
        as one summary, and the head's claim covers them, since none of them can be claimed
        while the head is pending. The claim commits
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
            "skip": list(exclude),
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
                        zone=zone_or_utc(row.time_zone),
                        held=_summary_rows(conn, row.destination_id) if row.held else (),
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
        # A summary settles every row it carried.
        sent = [
            {"row_id": row_id, "done_at": o.at, "tries": o.item.attempts + 1}
            for o in outcomes
            if isinstance(o.result, Sent)
            for row_id in o.item.row_ids
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
    ["destination_id", "event_id", "sent_at", "held"],
    select(
        outbox.c.destination_id,
        outbox.c.event_id,
        bindparam("done_at", type_=UTCDateTime()),
        outbox.c.held,
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
# The held rows a summary headed by a destination's oldest pending row carries: the pending held
# rows up to the first that was never held (that one was queued after them and goes out after).
_plain = outbox.alias("plain")
_SUMMARY_ROWS = (
    select(outbox.c.id, outbox.c.held, *EVENT_COLUMNS)
    .join_from(outbox, events, events.c.id == outbox.c.event_id)
    .where(
        outbox.c.destination_id == bindparam("destination"),
        outbox.c.status == "pending",
        outbox.c.held.is_not(None),
        ~select(literal(1))
        .where(
            _plain.c.destination_id == outbox.c.destination_id,
            _plain.c.status == "pending",
            _plain.c.held.is_(None),
            _plain.c.id < outbox.c.id,
        )
        .exists(),
    )
    .order_by(outbox.c.id)
    .limit(SUMMARY_MAX)
)


def _hold_reason(text: object) -> HoldReason:
    return "quiet" if text == "quiet" else "mute"


def _summary_rows(conn: Connection, destination: int) -> tuple[HeldRow, ...]:
    """Return the held rows a summary for `destination` carries, oldest (its head) first."""
    rows = conn.execute(_SUMMARY_ROWS, {"destination": destination})
    return tuple(HeldRow(row.id, event_from_row(row), _hold_reason(row.held)) for row in rows)


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
                outbox.c.held,
                destinations.c.address,
                destinations.c.time_zone,
                *EVENT_COLUMNS,
            )
            .join_from(outbox, events, events.c.id == outbox.c.event_id)
            .where(outbox.c.id.not_in(bindparam("skip", expanding=True)))
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
            carried = item.row_ids[1:]
            if status == "dead" and carried:
                # Giving up on a summary gives up on the rows it carried, not on one at a time.
                conn.execute(
                    update(outbox)
                    .where(outbox.c.id.in_(carried), outbox.c.status == "pending")
                    .values(status="dead", last_error=error[:500])
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
                    outbox.c.status.in_(("pending", "held")),
                )
                .values(status="dead", last_error=reason[:500], claimed_by=None, claim_until=None)
            )
        case Moved(new=new):
            # The row stays pending, now under the new address, and is sent there next.
            conn.execute(update(outbox).where(held).values(claimed_by=None, claim_until=None))
            move_destination_rows(conn, item.destination.address, new.address)
