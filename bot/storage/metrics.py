"""Metrics: stored samples, each metric's latest value, coin closes and named daily series."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.model.metrics import LatestValue
from bot.storage.database import Database, InsertFn, UnitBase
from bot.storage.schema import coin_closes, daily_series, latest, samples
from signals.types import Sample


@dataclass(frozen=True, slots=True)
class LastSample:
    """The value and time of a metric's newest stored sample."""

    value: float
    at: datetime
    detail: tuple[tuple[str, str], ...] = ()


# How finely a chart reads a metric: every sample, or the last one of each hour or UTC day.
Bucket = Literal["sample", "hour", "day"]


@dataclass(frozen=True, slots=True)
class StoredPoint:
    """One stored sample as a chart reads it."""

    at: datetime
    value: float
    source: str
    detail: tuple[tuple[str, str], ...] = ()


def _detail(raw: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, list):
        return ()
    return tuple((str(p[0]), str(p[1])) for p in raw if isinstance(p, list) and len(p) == 2)


async def write_samples(conn: AsyncConnection, insert: InsertFn, items: Sequence[Sample]) -> None:
    """Store samples, replacing a value already stored for the same metric and time."""
    if not items:
        return
    rows = [
        {
            "metric": s.metric,
            "at": s.at,
            "value": s.value,
            "source": s.source,
            "detail": [list(pair) for pair in s.detail] if s.detail else None,
        }
        for s in items
    ]
    stmt = insert(samples)
    excluded = stmt.excluded  # type: ignore[attr-defined]
    stmt = stmt.on_conflict_do_update(  # type: ignore[attr-defined]
        index_elements=["metric", "at"],
        set_={"value": excluded.value, "source": excluded.source, "detail": excluded.detail},
    )
    await conn.execute(stmt, rows)


class MetricsUnit(UnitBase):
    """What the engine's transaction writes and locks of a metric."""

    async def save_samples(self, items: Sequence[Sample]) -> None:
        """Store samples, replacing a value already stored for the same metric and time."""
        await write_samples(self._conn, self._store.insert, items)

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
            select(latest.c.value, latest.c.at, latest.c.detail)
            .where(latest.c.metric == metric, latest.c.at.is_not(None))
            .with_for_update()
        )
        row = (await self._conn.execute(query)).first()
        if row is None:
            return None
        detail = tuple((str(k), str(v)) for k, v in (row.detail or []))
        return LastSample(row.value, row.at, detail)


class MetricsStore(Database):
    """Samples, latest values and daily series outside the engine's transaction."""

    async def save_history(self, items: Sequence[Sample]) -> None:
        """Store back-filled samples without evaluating rules on them."""
        async with self._begin() as conn:
            for start in range(0, len(items), 1000):
                await write_samples(conn, self.insert, items[start : start + 1000])

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

    async def metric_history(
        self, metric: str, start: datetime | None = None, end: datetime | None = None
    ) -> list[Sample]:
        """Return the stored samples of `metric` with start <= at < end, oldest first."""
        query = select(samples.c.at, samples.c.value, samples.c.source, samples.c.detail).where(
            samples.c.metric == metric
        )
        if start is not None:
            query = query.where(samples.c.at >= start)
        if end is not None:
            query = query.where(samples.c.at < end)
        async with self._connect() as conn:
            rows = await conn.execute(query.order_by(samples.c.at))
            return [
                Sample(metric, row.value, row.at, row.source, _detail(row.detail)) for row in rows
            ]

    async def highest_before(self, metric: str, at: datetime) -> float | None:
        """Return the highest stored value of `metric` before `at`."""
        query = select(func.max(samples.c.value)).where(
            samples.c.metric == metric, samples.c.at < at
        )
        async with self._connect() as conn:
            value = (await conn.execute(query)).scalar()
        return None if value is None else float(value)

    async def chart_points(
        self, metric: str, start: datetime, end: datetime, bucket: Bucket
    ) -> list[StoredPoint]:
        """Return `metric`'s samples with start <= at <= end, oldest first, one per `bucket`.

        A bucket keeps its last sample (a day's close); the database picks them, so a year of
        minute-by-minute regime scores never crosses the wire.
        """
        where = (samples.c.metric == metric, samples.c.at >= start, samples.c.at <= end)
        columns = (samples.c.at, samples.c.value, samples.c.source, samples.c.detail)
        if bucket == "sample":
            query = select(*columns).where(*where).order_by(samples.c.at)
        else:
            last = (
                select(func.max(samples.c.at).label("at"))
                .where(*where)
                .group_by(self._bucket_key(bucket))
                .subquery()
            )
            query = (
                select(*columns)
                .join(last, samples.c.at == last.c.at)
                .where(samples.c.metric == metric)
                .order_by(samples.c.at)
            )
        async with self._connect() as conn:
            return [
                StoredPoint(row.at, row.value, row.source, _detail(row.detail))
                for row in await conn.execute(query)
            ]

    def _bucket_key(self, bucket: Bucket) -> Any:
        """Return the SQL expression naming a sample's UTC hour or day, in this dialect."""
        if self.dialect == "sqlite":
            # UTCDateTime keeps SQLite timestamps as UTC text, `2026-01-05 12:00:00.000000`.
            return func.substr(samples.c.at, 1, 13 if bucket == "hour" else 10)
        pattern = "YYYY-MM-DD HH24" if bucket == "hour" else "YYYY-MM-DD"
        return func.to_char(func.timezone("UTC", samples.c.at), pattern)

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
