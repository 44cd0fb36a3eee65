"""Destinations and subscriptions: who gets which alerts, mutes, and moved chats."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.model.destinations import DestinationInfo
from bot.model.quiet import QuietHours
from bot.model.rules import ALL_BUILTINS, is_custom
from bot.storage.database import Database, InsertFn
from bot.storage.holds import quiet_from_row, release_held
from bot.storage.schema import custom_rules, deliveries, destinations, outbox, subscriptions


async def destination_id(
    conn: AsyncConnection, dialect_insert: InsertFn, address: str, now: datetime
) -> int:
    """Return the id of the destination at `address`, creating it (active) if new."""
    found = (
        await conn.execute(select(destinations.c.id).where(destinations.c.address == address))
    ).scalar()
    if found is not None:
        return int(found)
    stmt = (
        dialect_insert(destinations)
        .values(address=address, active=True, created_at=now)
        .on_conflict_do_nothing()  # type: ignore[attr-defined]
    )
    await conn.execute(stmt)
    created = await conn.execute(select(destinations.c.id).where(destinations.c.address == address))
    return int(created.scalar_one())


def move_destination_rows(conn: Connection, old: str, new: str) -> None:
    """Give destination `old` the address `new`, merging into `new` if it already exists."""
    old_id = conn.execute(select(destinations.c.id).where(destinations.c.address == old)).scalar()
    if old_id is None:
        return
    new_id = conn.execute(select(destinations.c.id).where(destinations.c.address == new)).scalar()
    if new_id is None:
        conn.execute(update(destinations).where(destinations.c.id == old_id).values(address=new))
        conn.execute(update(custom_rules).where(custom_rules.c.owner == old).values(owner=new))
        return
    kept = select(subscriptions.c.rule_id).where(subscriptions.c.destination_id == new_id)
    conn.execute(
        update(subscriptions)
        .where(subscriptions.c.destination_id == old_id, subscriptions.c.rule_id.not_in(kept))
        .values(destination_id=new_id)
    )
    conn.execute(
        update(outbox).where(outbox.c.destination_id == old_id).values(destination_id=new_id)
    )
    conn.execute(
        update(deliveries)
        .where(deliveries.c.destination_id == old_id)
        .values(destination_id=new_id)
    )
    conn.execute(update(custom_rules).where(custom_rules.c.owner == old).values(owner=new))
    conn.execute(delete(destinations).where(destinations.c.id == old_id))


class SubscriptionsStore(Database):
    """Subscriptions, mutes and addresses of destinations."""

    async def subscribe(
        self, address: str, rule_ids: Iterable[str], now: datetime
    ) -> tuple[str, ...]:
        """Subscribe `address` to `rule_ids` (reactivating it); return the ids newly added.

        "All" and a named built-in rule never coexist: choosing all replaces the named built-ins,
        and naming one while on all adds nothing, so a fan-out never has to de-duplicate.
        """
        wanted = list(dict.fromkeys(rule_ids))
        async with self._begin() as conn:
            dest_id = await destination_id(conn, self.insert, address, now)
            await conn.execute(
                update(destinations)
                .where(destinations.c.id == dest_id)
                .values(active=True, deactivated_reason=None)
            )
            have = set(
                (
                    await conn.execute(
                        select(subscriptions.c.rule_id).where(
                            subscriptions.c.destination_id == dest_id
                        )
                    )
                ).scalars()
            )
            on_all = ALL_BUILTINS in have or ALL_BUILTINS in wanted
            added = tuple(
                r
                for r in wanted
                if r not in have and (r == ALL_BUILTINS or not on_all or is_custom(r))
            )
            if ALL_BUILTINS in added:
                named = [r for r in have if r != ALL_BUILTINS and not is_custom(r)]
                if named:
                    await conn.execute(
                        delete(subscriptions).where(
                            subscriptions.c.destination_id == dest_id,
                            subscriptions.c.rule_id.in_(named),
                        )
                    )
            if added:
                await conn.execute(
                    insert(subscriptions),
                    [{"destination_id": dest_id, "rule_id": r} for r in added],
                )
        return added

    async def replace_all(self, address: str, rule_ids: Sequence[str]) -> None:
        """Swap the destination's "all" for the named rules, in one transaction."""
        async with self._begin() as conn:
            dest_id = (
                await conn.execute(
                    select(destinations.c.id).where(destinations.c.address == address)
                )
            ).scalar()
            if dest_id is None:
                return
            await conn.execute(
                delete(subscriptions).where(
                    subscriptions.c.destination_id == dest_id,
                    subscriptions.c.rule_id == ALL_BUILTINS,
                )
            )
            if rule_ids:
                await conn.execute(
                    insert(subscriptions),
                    [{"destination_id": dest_id, "rule_id": r} for r in rule_ids],
                )

    async def unsubscribe(self, address: str, rule_ids: Iterable[str] | None) -> tuple[str, ...]:
        """Remove subscriptions (all when `rule_ids` is None); return the ids removed."""
        async with self._begin() as conn:
            dest_id = (
                await conn.execute(
                    select(destinations.c.id).where(destinations.c.address == address)
                )
            ).scalar()
            if dest_id is None:
                return ()
            query = select(subscriptions.c.rule_id).where(subscriptions.c.destination_id == dest_id)
            if rule_ids is not None:
                query = query.where(subscriptions.c.rule_id.in_(list(rule_ids)))
            removed = tuple(sorted((await conn.execute(query)).scalars()))
            if removed:
                await conn.execute(
                    delete(subscriptions).where(
                        subscriptions.c.destination_id == dest_id,
                        subscriptions.c.rule_id.in_(removed),
                    )
                )
        return removed

    async def destination(self, address: str) -> DestinationInfo | None:
        """Return a destination's state and subscriptions, or None if never seen."""
        async with self._connect() as conn:
            row = (
                await conn.execute(select(destinations).where(destinations.c.address == address))
            ).first()
            if row is None:
                return None
            rule_ids = (
                await conn.execute(
                    select(subscriptions.c.rule_id)
                    .where(subscriptions.c.destination_id == row.id)
                    .order_by(subscriptions.c.rule_id)
                )
            ).scalars()
            return DestinationInfo(
                row.address,
                bool(row.active),
                row.muted_until,
                tuple(rule_ids),
                quiet_from_row(row),
                row.time_zone,
            )

    async def set_mute(self, address: str, until: datetime | None, now: datetime) -> int:
        """Mute `address` until a time, or unmute it with None; return how many held rows go out.

        Unmuting releases what the mute held in the same transaction, unless quiet hours still
        hold it: the rows then go out when those end.
        """
        return await self._set_holds(address, now, muted_until=until)

    async def set_quiet(self, address: str, quiet: QuietHours | None, now: datetime) -> int:
        """Set or clear the quiet hours of `address`; return how many held rows go out."""
        return await self._set_holds(
            address,
            now,
            quiet_start=quiet.start if quiet else None,
            quiet_end=quiet.end if quiet else None,
            quiet_zone=quiet.zone if quiet else None,
        )

    async def _set_holds(self, address: str, now: datetime, **values: object) -> int:
        async with self._begin() as conn:
            dest_id = await destination_id(conn, self.insert, address, now)
            await conn.execute(
                update(destinations).where(destinations.c.id == dest_id).values(**values)
            )
            return await release_held(conn, now, dest_id)

    async def set_time_zone(self, address: str, zone: str | None, now: datetime) -> None:
        """Show times to `address` in the IANA zone `zone` (None: UTC)."""
        async with self._begin() as conn:
            dest_id = await destination_id(conn, self.insert, address, now)
            await conn.execute(
                update(destinations).where(destinations.c.id == dest_id).values(time_zone=zone)
            )

    async def move_destination(self, old: str, new: str) -> None:
        """Give destination `old` the address `new`, merging into `new` if it already exists."""
        await self._transact(lambda conn: move_destination_rows(conn, old, new))
