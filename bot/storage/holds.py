"""Held deliveries: which destinations hold alerts now, and releasing rows whose hold has ended."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.model.quiet import QuietHours, hold_reason
from bot.storage.schema import destinations, outbox

HOLD_COLUMNS = (
    destinations.c.id,
    destinations.c.muted_until,
    destinations.c.quiet_start,
    destinations.c.quiet_end,
    destinations.c.quiet_zone,
)


def quiet_from_row(row: Any) -> QuietHours | None:
    """Return a destination row's quiet hours, or None when it has none."""
    if row.quiet_start is None or row.quiet_end is None or row.quiet_zone is None:
        return None
    return QuietHours(int(row.quiet_start), int(row.quiet_end), str(row.quiet_zone))


async def quiet_now(conn: AsyncConnection, now: datetime) -> list[int]:
    """Return the ids of destinations inside their quiet hours at `now`.

    Read in Python: whether a moment is quiet depends on each zone's rules (daylight saving),
    which neither SQLite nor a portable query knows. Only destinations with quiet hours are read.
    """
    rows = await conn.execute(select(*HOLD_COLUMNS).where(destinations.c.quiet_start.is_not(None)))
    return [
        int(row.id)
        for row in rows
        if (quiet := quiet_from_row(row)) is not None and quiet.contains(now)
    ]


async def release_held(
    conn: AsyncConnection, now: datetime, destination_id: int | None = None
) -> int:
    """Make pending the held rows of destinations (or the one) whose hold has ended; return how many.

    Idempotent: two replicas releasing at once move each row once, the second finds none held.
    """
    with_held = select(outbox.c.destination_id).where(outbox.c.status == "held")
    query = select(*HOLD_COLUMNS).where(destinations.c.id.in_(with_held))
    if destination_id is not None:
        query = query.where(destinations.c.id == destination_id)
    free = [
        int(row.id)
        for row in await conn.execute(query)
        if hold_reason(row.muted_until, quiet_from_row(row), now) is None
    ]
    if not free:
        return 0
    result = await conn.execute(
        update(outbox)
        .where(outbox.c.status == "held", outbox.c.destination_id.in_(free))
        .values(status="pending", next_attempt_at=now)
    )
    return int(result.rowcount or 0)
