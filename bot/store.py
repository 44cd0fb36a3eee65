"""The store: every durable fact of the bot, on SQLite or PostgreSQL through SQLAlchemy async."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Connection,
    bindparam,
    delete,
    event,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.dml import Insert

from bot.destinations import Destination
from bot.engine import RuleState
from bot.notify import AlertMessage, AlertState
from bot.rules import Rule, RuleSpec
from bot.schema import (
    UTCDateTime,
    coin_closes,
    custom_rules,
    daily_series,
    deliveries,
    destinations,
    events,
    latest,
    outbox,
    rule_state,
    samples,
    subscriptions,
)
from signals.types import Sample

log = logging.getLogger(__name__)

ALL_BUILTINS = "*"
CUSTOM_PREFIX = "c"
_CUSTOM_ID = re.compile(rf"{CUSTOM_PREFIX}([0-9]{{1,18}})")


class StoreUnavailable(Exception):
    """The database cannot be reached or refused the operation."""


# What the drivers raise when the database is gone, locked past its timeout, or refuses a query.
_DATABASE_ERRORS = (OSError, DBAPIError, TimeoutError)


@dataclass(frozen=True, slots=True)
class LatestValue:
    """A metric's last good value, and why it is stale if it is."""

    metric: str
    value: float | None
    at: datetime | None
    source: str | None
    detail: tuple[tuple[str, str], ...]
    stale_reason: str | None
    checked_at: datetime


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An alert event as recorded."""

    id: int
    rule_id: str
    kind: AlertState
    metric: str
    value: float
    previous: float | None
    threshold: float | None
    source: str
    at: datetime
    description: str
    text: str

    def message(self) -> AlertMessage:
        """Return the notifier's view of this event."""
        return AlertMessage(
            event_id=self.id,
            rule_id=self.rule_id,
            rule_description=self.description,
            state=self.kind,
            metric=self.metric,
            value=self.value,
            threshold=self.threshold,
            previous=self.previous,
            source=self.source,
            at=self.at,
            text=self.text,
        )


@dataclass(frozen=True, slots=True)
class LastSample:
    """The value and time of a metric's newest stored sample."""

    value: float
    at: datetime


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An alert the engine decided on, before it has an id."""

    rule: Rule
    kind: AlertState
    value: float
    previous: float | None
    source: str
    at: datetime
    text: str


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One pending delivery: an event for a destination."""

    id: int
    destination_id: int
    destination: Destination
    attempts: int
    event: StoredEvent


@dataclass(frozen=True, slots=True)
class Sent:
    """The platform accepted the message."""


@dataclass(frozen=True, slots=True)
class Retry:
    """Try the same row again after `delay`."""

    delay: timedelta
    error: str


@dataclass(frozen=True, slots=True)
class Refused:
    """The destination refused for good: deactivate it."""

    reason: str


@dataclass(frozen=True, slots=True)
class Moved:
    """The destination has a new address; deliver there."""

    new: Destination


DeliveryOutcome = Sent | Retry | Refused | Moved
SendFn = Callable[[OutboxItem], Awaitable[DeliveryOutcome]]


@dataclass(frozen=True, slots=True)
class DestinationInfo:
    """A destination's subscriptions and mute."""

    address: str
    active: bool
    muted_until: datetime | None
    rule_ids: tuple[str, ...]


def custom_rule_id(row_id: int) -> str:
    """Return the public id of custom rule row `row_id`."""
    return f"{CUSTOM_PREFIX}{row_id}"


async def _destination_id(
    conn: AsyncConnection, dialect_insert: Callable[[Any], Insert], address: str, now: datetime
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


def _is_custom(rule_id: str) -> bool:
    return _CUSTOM_ID.fullmatch(rule_id) is not None


def _migrations_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    return config


def _upgrade(connection: Connection) -> None:
    config = _migrations_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _state_from_row(row: Any, last: LastSample | None = None) -> RuleState:
    return RuleState(
        state=row.state,
        armed=bool(row.armed),
        since=row.since,
        value=last.value if last else None,
        sample_at=last.at if last else None,
        notified_at=row.notified_at,
        high=row.high,
    )


def _state_values(rule_id: str, state: RuleState) -> dict[str, Any]:
    return {
        "rule_id": rule_id,
        "state": state.state,
        "armed": state.armed,
        "since": state.since,
        "notified_at": state.notified_at,
        "high": state.high,
    }


def _event_from_row(row: Any) -> StoredEvent:
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
        text=row.text,
    )


_EVENT_COLUMNS = (
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
    events.c.text,
)


class Unit:
    """One transaction of the rule engine: samples, states, events and outbox rows commit together."""

    def __init__(self, conn: AsyncConnection, store: Store) -> None:
        self._conn = conn
        self._store = store

    async def save_samples(self, items: Sequence[Sample]) -> None:
        """Store samples, replacing a value already stored for the same metric and time."""
        if not items:
            return
        rows = [
            {"metric": s.metric, "at": s.at, "value": s.value, "source": s.source} for s in items
        ]
        stmt = self._store.insert(samples)
        stmt = stmt.on_conflict_do_update(  # type: ignore[attr-defined]
            index_elements=["metric", "at"],
            set_={"value": stmt.excluded.value, "source": stmt.excluded.source},  # type: ignore[attr-defined]
        )
        await self._conn.execute(stmt, rows)

    async def set_latest(self, sample: Sample, now: datetime) -> None:
        """Record `sample` as its metric's latest good value."""
        values = {
            "metric": sample.metric,
            "value": sample.value,
            "at": sample.at,
            "source": sample.source,
            "detail": [list(pair) for pair in sample.detail],
            "stale_reason": None,
            "checked_at": now,
        }
        stmt = self._store.insert(latest).values(values)
        stmt = stmt.on_conflict_do_update(  # type: ignore[attr-defined]
            index_elements=["metric"],
            set_={k: v for k, v in values.items() if k != "metric"},
            where=or_(latest.c.at.is_(None), latest.c.at <= sample.at),
        )
        await self._conn.execute(stmt)

    async def high_before(self, metric: str, at: datetime) -> float | None:
        """Return the highest stored value of `metric` before `at`."""
        query = select(func.max(samples.c.value)).where(
            samples.c.metric == metric, samples.c.at < at
        )
        value = (await self._conn.execute(query)).scalar()
        return None if value is None else float(value)

    async def lock_latest(self, metric: str) -> LastSample | None:
        """Read and lock the metric's last good sample: replicas ingest a metric one at a time."""
        query = (
            select(latest.c.value, latest.c.at)
            .where(latest.c.metric == metric, latest.c.at.is_not(None))
            .with_for_update()
        )
        row = (await self._conn.execute(query)).first()
        return None if row is None else LastSample(row.value, row.at)

    async def lock_states(
        self, rule_ids: Sequence[str], last: LastSample | None
    ) -> dict[str, RuleState]:
        """Read and lock the states of `rule_ids`, with `last` as the value they saw last."""
        if not rule_ids:
            return {}
        query = select(rule_state).where(rule_state.c.rule_id.in_(rule_ids)).with_for_update()
        rows = (await self._conn.execute(query)).all()
        found = {row.rule_id: _state_from_row(row, last) for row in rows}
        missing = [rid for rid in rule_ids if rid not in found]
        if missing:
            stmt = self._store.insert(rule_state).on_conflict_do_nothing()  # type: ignore[attr-defined]
            await self._conn.execute(stmt, [_state_values(rid, RuleState()) for rid in missing])
            again = select(rule_state).where(rule_state.c.rule_id.in_(missing)).with_for_update()
            found.update(
                {row.rule_id: _state_from_row(row, last) for row in await self._conn.execute(again)}
            )
        return found

    async def save_states(self, changed: Mapping[str, RuleState]) -> None:
        """Write back the states that changed."""
        if not changed:
            return
        columns = [c.name for c in rule_state.c if c.name != "rule_id"]
        stmt = (
            update(rule_state)
            .where(rule_state.c.rule_id == bindparam("key"))
            .values({name: bindparam(name) for name in columns})
        )
        rows = []
        for rule_id, state in changed.items():
            values = _state_values(rule_id, state)
            values["key"] = values.pop("rule_id")
            rows.append(values)
        await self._conn.execute(stmt, rows)

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
                "text": item.text,
            }
            for item in items
        ]
        # Rows come back in no promised order; asking for one makes SQLAlchemy insert row by row.
        # One event per rule in a batch, so the rule id tells which id is whose.
        stmt = insert(events).returning(events.c.id, events.c.rule_id)
        result = await self._conn.execute(stmt, rows)
        ids = {row.rule_id: int(row.id) for row in result}
        return [ids[item.rule.id] for item in items]

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
            dest_id = await _destination_id(self._conn, self._store.insert, address, now)
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


class Store:
    """Durable state behind the bot; every method is one short transaction unless it says otherwise."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    @classmethod
    async def open(cls, url: str, pool_size: int = 10) -> Store:
        """Connect to `url` (an async SQLAlchemy URL), create SQLite's directory, and migrate."""
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            _make_parent(parsed.database or "")
            # One connection: SQLite has one writer anyway, and a single connection means the
            # process never races itself for the write lock.
            engine = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=60)
            _configure_sqlite(engine)
        else:
            engine = create_async_engine(
                url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )
        store = cls(engine)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(_upgrade)
        except (OSError, DBAPIError) as exc:
            await engine.dispose()
            raise StoreUnavailable(f"cannot open the database: {exc}") from exc
        return store

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()

    def insert(self, table: Any) -> Insert:
        """Return the dialect's INSERT, which knows ON CONFLICT."""
        if self.dialect == "postgresql":
            return pg_dialect.insert(table)
        return sqlite_dialect.insert(table)

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[Unit]:
        """Open one transaction for the rule engine."""
        async with self._begin() as conn:
            yield Unit(conn, self)

    @asynccontextmanager
    async def _connect(self) -> AsyncIterator[AsyncConnection]:
        """Open a connection; a database failure inside comes out as `StoreUnavailable`."""
        try:
            async with self.engine.connect() as conn:
                yield conn
        except _DATABASE_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc

    @asynccontextmanager
    async def _begin(self) -> AsyncIterator[AsyncConnection]:
        """Open a transaction; a database failure inside comes out as `StoreUnavailable`."""
        try:
            async with self.engine.begin() as conn:
                yield conn
        except _DATABASE_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc

    async def checkpoint(self) -> None:
        """Fold SQLite's write-ahead log into the database, off the hot path; no-op elsewhere."""
        if self.dialect == "sqlite":
            async with self._connect() as conn:
                # A checkpoint cannot run inside a transaction, so no BEGIN for this one.
                plain = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await plain.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    async def ping(self) -> None:
        """Raise `StoreUnavailable` unless the database answers."""
        async with self._connect() as conn:
            await conn.execute(select(literal(1)))

    # --- metrics -----------------------------------------------------------------------------

    async def save_history(self, items: Sequence[Sample]) -> None:
        """Store back-filled samples without evaluating rules on them."""
        async with self.unit() as unit:
            for start in range(0, len(items), 1000):
                await unit.save_samples(items[start : start + 1000])

    async def mark_stale(self, metric: str, reason: str, now: datetime) -> None:
        """Keep the metric's last value but flag it stale, with the reason."""
        stmt = self.insert(latest).values(metric=metric, stale_reason=reason, checked_at=now)
        stmt = stmt.on_conflict_do_update(  # type: ignore[attr-defined]
            index_elements=["metric"], set_={"stale_reason": reason, "checked_at": now}
        )
        async with self._begin() as conn:
            await conn.execute(stmt)

    async def latest_values(self) -> dict[str, LatestValue]:
        """Return every metric's latest value."""
        async with self._connect() as conn:
            rows = (await conn.execute(select(latest))).all()
        return {
            row.metric: LatestValue(
                metric=row.metric,
                value=row.value,
                at=row.at,
                source=row.source,
                detail=tuple((str(k), str(v)) for k, v in (row.detail or [])),
                stale_reason=row.stale_reason,
                checked_at=row.checked_at,
            )
            for row in rows
        }

    async def samples_since(self, metric: str, since: datetime) -> list[tuple[datetime, float]]:
        """Return `(at, value)` pairs of `metric` from `since` on, oldest first."""
        query = (
            select(samples.c.at, samples.c.value)
            .where(samples.c.metric == metric, samples.c.at >= since)
            .order_by(samples.c.at)
        )
        async with self._connect() as conn:
            return [(row.at, row.value) for row in await conn.execute(query)]

    async def edge_sample(
        self, metric: str, start: datetime, end: datetime, *, newest: bool
    ) -> tuple[datetime, float] | None:
        """Return the newest (or oldest) `(at, value)` of `metric` with start <= at <= end."""
        order = samples.c.at.desc() if newest else samples.c.at
        query = (
            select(samples.c.at, samples.c.value)
            .where(samples.c.metric == metric, samples.c.at >= start, samples.c.at <= end)
            .order_by(order)
            .limit(1)
        )
        async with self._connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else (row.at, row.value)

    async def prune(self, now: datetime, sample_retention: timedelta) -> None:
        """Drop samples and the delivery log past retention, finished outbox rows after a month."""
        async with self._begin() as conn:
            await conn.execute(delete(samples).where(samples.c.at < now - sample_retention))
            await conn.execute(
                delete(deliveries).where(deliveries.c.sent_at < now - sample_retention)
            )
            await conn.execute(
                delete(outbox).where(
                    outbox.c.status != "pending", outbox.c.created_at < now - timedelta(days=30)
                )
            )

    # --- coin history (signals' PriceHistory) and named daily series (DailySeries) ----------

    async def closes(self, coin_id: str, since: date) -> dict[date, float]:
        """Return a coin's stored daily closes from `since` on."""
        return await self._days(coin_closes.c.coin_id, coin_closes.c.close, coin_id, since)

    async def save_closes(self, coin_id: str, closes: Mapping[date, float]) -> None:
        """Store a coin's daily closes, replacing any kept for the same day."""
        await self._save_days(coin_closes.c.coin_id, coin_closes.c.close, coin_id, closes)

    async def daily_values(self, series: str, since: date) -> dict[date, float]:
        """Return a series' stored values from `since` on."""
        return await self._days(daily_series.c.series, daily_series.c.value, series, since)

    async def save_daily_values(self, series: str, values: Mapping[date, float]) -> None:
        """Store a series' values, replacing any kept for the same day."""
        await self._save_days(daily_series.c.series, daily_series.c.value, series, values)

    async def _days(self, key: Any, value: Any, name: str, since: date) -> dict[date, float]:
        table = key.table
        query = select(table.c.day, value).where(key == name, table.c.day >= since)
        async with self._connect() as conn:
            return {row[0]: row[1] for row in await conn.execute(query)}

    async def _save_days(
        self, key: Any, value: Any, name: str, values: Mapping[date, float]
    ) -> None:
        if not values:
            return
        stmt = self.insert(key.table)
        stmt = stmt.on_conflict_do_update(  # type: ignore[attr-defined]
            index_elements=[key.name, "day"],
            set_={value.name: stmt.excluded[value.name]},  # type: ignore[attr-defined]
        )
        rows = [{key.name: name, "day": day, value.name: v} for day, v in values.items()]
        async with self._begin() as conn:
            await conn.execute(stmt, rows)

    # --- rules -------------------------------------------------------------------------------

    async def rule_states(self) -> dict[str, RuleState]:
        """Return every rule's stored state."""
        async with self._connect() as conn:
            rows = (await conn.execute(select(rule_state))).all()
        return {row.rule_id: _state_from_row(row) for row in rows}

    async def custom_rule_rows(self, owner: str | None = None) -> list[tuple[str, str, RuleSpec]]:
        """Return `(rule id, owner, spec)` for custom rules, of one owner or all."""
        query = select(custom_rules).order_by(custom_rules.c.id)
        if owner is not None:
            query = query.where(custom_rules.c.owner == owner)
        async with self._connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            (custom_rule_id(row.id), row.owner, RuleSpec(row.metric, row.op, row.threshold))
            for row in rows
        ]

    async def add_custom_rule(
        self, owner: str, spec: RuleSpec, now: datetime, limit: int
    ) -> str | None:
        """Create a custom rule subscribed by its owner; return its id, or None past `limit`."""
        async with self._begin() as conn:
            count = (
                await conn.execute(
                    select(func.count())
                    .select_from(custom_rules)
                    .where(custom_rules.c.owner == owner)
                )
            ).scalar_one()
            if count >= limit:
                return None
            row_id = (
                await conn.execute(
                    insert(custom_rules)
                    .values(
                        owner=owner,
                        metric=spec.metric,
                        op=spec.op,
                        threshold=spec.threshold,
                        created_at=now,
                    )
                    .returning(custom_rules.c.id)
                )
            ).scalar_one()
            rule_id = custom_rule_id(int(row_id))
            dest_id = await _destination_id(conn, self.insert, owner, now)
            await conn.execute(
                insert(subscriptions).values(destination_id=dest_id, rule_id=rule_id)
            )
            await conn.execute(insert(rule_state).values(_state_values(rule_id, RuleState())))
        return rule_id

    async def remove_custom_rule(self, owner: str, rule_id: str) -> bool:
        """Delete the owner's custom rule with its subscription and state; False if none."""
        match = _CUSTOM_ID.fullmatch(rule_id)
        if match is None:
            return False
        number = match.group(1)
        async with self._begin() as conn:
            gone = await conn.execute(
                delete(custom_rules).where(
                    custom_rules.c.id == int(number), custom_rules.c.owner == owner
                )
            )
            if not gone.rowcount:
                return False
            await conn.execute(delete(subscriptions).where(subscriptions.c.rule_id == rule_id))
            await conn.execute(delete(rule_state).where(rule_state.c.rule_id == rule_id))
        return True

    # --- destinations and subscriptions --------------------------------------------------------

    async def subscribe(
        self, address: str, rule_ids: Iterable[str], now: datetime
    ) -> tuple[str, ...]:
        """Subscribe `address` to `rule_ids` (reactivating it); return the ids newly added.

        "All" and a named built-in rule never coexist: choosing all replaces the named built-ins,
        and naming one while on all adds nothing, so a fan-out never has to de-duplicate.
        """
        wanted = list(dict.fromkeys(rule_ids))
        async with self._begin() as conn:
            dest_id = await _destination_id(conn, self.insert, address, now)
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
                if r not in have and (r == ALL_BUILTINS or not on_all or _is_custom(r))
            )
            if ALL_BUILTINS in added:
                named = [r for r in have if r != ALL_BUILTINS and not _is_custom(r)]
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
            return DestinationInfo(row.address, bool(row.active), row.muted_until, tuple(rule_ids))

    async def set_mute(self, address: str, until: datetime | None, now: datetime) -> None:
        """Mute `address` until a time, or unmute it with None."""
        async with self._begin() as conn:
            dest_id = await _destination_id(conn, self.insert, address, now)
            await conn.execute(
                update(destinations).where(destinations.c.id == dest_id).values(muted_until=until)
            )

    async def move_destination(self, old: str, new: str) -> None:
        """Give destination `old` the address `new`, merging into `new` if it already exists."""
        async with self._begin() as conn:
            await self._move(conn, old, new)

    async def _move(self, conn: AsyncConnection, old: str, new: str) -> None:
        old_id = (
            await conn.execute(select(destinations.c.id).where(destinations.c.address == old))
        ).scalar()
        if old_id is None:
            return
        new_id = (
            await conn.execute(select(destinations.c.id).where(destinations.c.address == new))
        ).scalar()
        if new_id is None:
            await conn.execute(
                update(destinations).where(destinations.c.id == old_id).values(address=new)
            )
            await conn.execute(
                update(custom_rules).where(custom_rules.c.owner == old).values(owner=new)
            )
            return
        kept = select(subscriptions.c.rule_id).where(subscriptions.c.destination_id == new_id)
        await conn.execute(
            update(subscriptions)
            .where(subscriptions.c.destination_id == old_id, subscriptions.c.rule_id.not_in(kept))
            .values(destination_id=new_id)
        )
        await conn.execute(
            update(outbox).where(outbox.c.destination_id == old_id).values(destination_id=new_id)
        )
        await conn.execute(
            update(deliveries)
            .where(deliveries.c.destination_id == old_id)
            .values(destination_id=new_id)
        )
        await conn.execute(
            update(custom_rules).where(custom_rules.c.owner == old).values(owner=new)
        )
        await conn.execute(delete(destinations).where(destinations.c.id == old_id))

    async def delivered_events(self, address: str, limit: int) -> list[StoredEvent]:
        """Return the newest events delivered to `address`, newest first."""
        query = (
            select(*_EVENT_COLUMNS)
            .select_from(deliveries.join(events).join(destinations))
            .where(destinations.c.address == address)
            .order_by(deliveries.c.id.desc())
            .limit(limit)
        )
        async with self._connect() as conn:
            return [_event_from_row(row) for row in await conn.execute(query)]

    async def recent_events(self, limit: int) -> list[StoredEvent]:
        """Return the newest events, newest first."""
        query = select(*_EVENT_COLUMNS).order_by(events.c.id.desc()).limit(limit)
        async with self._connect() as conn:
            return [_event_from_row(row) for row in await conn.execute(query)]

    # --- outbox --------------------------------------------------------------------------------

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
                *_EVENT_COLUMNS,
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
            event=_event_from_row(row),
        )

    async def deliver_next(
        self,
        dest_id: int,
        clock: Callable[[], datetime],
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
                await self._move(conn, item.destination.address, new.address)


def _make_parent(database: str) -> None:
    if database and database != ":memory:":
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" hook issue BEGIN itself, as IMMEDIATE: a transaction that reads
        # and then writes must not be refused the write lock half-way when another process wrote.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # A fan-out sorts and de-duplicates thousands of rows: keep that off the disk.
        cursor.execute("PRAGMA temp_store=MEMORY")
        # Checkpoint the write-ahead log from the maintenance loop (Store.checkpoint), not in the
        # commit of whichever fan-out happens to cross SQLite's default 1,000 pages.
        cursor.execute("PRAGMA wal_autocheckpoint=16384")
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
