"""What a chart reads from the store: bucketed samples with their detail, and rules' events."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, inspect

import bot.storage.store
from bot.model.rules import RuleDefaults
from bot.storage import Store
from bot.storage.metrics import StoredPoint
from bot.watch.engine import AlertEngine
from signals.types import FetchResult, Sample
from tests.bot.conftest import FakeClock


async def test_chart_points_keep_each_buckets_last_sample_and_its_detail(
    store: Store, clock: FakeClock
) -> None:
    day = clock().replace(hour=0, minute=0)
    detail = (("asi", "yes; ASI 61"), ("rut_high", "no; high 9 sessions ago"))
    history = []
    for n in range(3):
        for hour in (1, 13, 23):
            at = day + timedelta(days=n, hours=hour)
            history.append(Sample("risk_on", float(n * 10 + hour % 10), at, "radar", detail))
    await store.save_history(history)
    start, end = day, day + timedelta(days=3)
    daily = await store.chart_points("risk_on", start, end, "day")
    assert [(p.at.day, p.value) for p in daily] == [(5, 3.0), (6, 13.0), (7, 23.0)]
    assert all(p.detail == detail for p in daily)
    hourly = await store.chart_points("risk_on", start, day + timedelta(hours=20), "hour")
    assert [p.value for p in hourly] == [1.0, 3.0]
    every = await store.chart_points("risk_on", start, end, "sample")
    assert len(every) == 9
    assert await store.chart_points("asi", start, end, "day") == []


async def test_a_sample_without_detail_reads_back_without_any(
    store: Store, clock: FakeClock
) -> None:
    engine = AlertEngine(store, RuleDefaults(), clock)
    await engine.ingest(FetchResult(samples=(Sample("asi", 40, clock(), "coingecko"),)))
    points = await store.chart_points("asi", clock() - timedelta(days=1), clock(), "day")
    assert points == [StoredPoint(clock(), 40.0, "coingecko", ())]


async def test_rule_events_are_read_by_rule_and_time(store: Store, clock: FakeClock) -> None:
    engine = AlertEngine(store, RuleDefaults(), clock)
    for value in (40, 55, 20, 60):
        clock.advance(hours=1)
        await engine.ingest(FetchResult(samples=(Sample("asi", value, clock(), "coingecko"),)))
    found = await store.rule_events(
        ["asi-above-50", "bitcoin-season"], clock() - timedelta(days=1), clock()
    )
    assert [(e.rule_id, e.kind, e.value) for e in found] == [
        ("asi-above-50", "firing", 55.0),
        ("asi-above-50", "resolved", 20.0),
        ("bitcoin-season", "firing", 20.0),
        ("asi-above-50", "firing", 60.0),
        ("bitcoin-season", "resolved", 60.0),
    ]
    assert await store.rule_events([], clock() - timedelta(days=1), clock()) == []
    assert await store.rule_events(["altseason"], clock() - timedelta(days=1), clock()) == []


def _downgrade(conn: Connection, revision: str) -> None:
    config = Config()
    config.set_main_option(
        "script_location", str(Path(bot.storage.store.__file__).with_name("migrations"))
    )
    config.attributes["connection"] = conn
    command.downgrade(config, revision)


async def test_samples_stored_before_0006_keep_their_values_and_gain_no_detail(
    store_url: str, clock: FakeClock
) -> None:
    first = await Store.open(store_url)
    try:
        await first.save_history([Sample("asi", 40, clock(), "coingecko")])
        async with first.engine.begin() as conn:
            await conn.run_sync(_downgrade, "0005")
            columns = await conn.run_sync(
                lambda c: {col["name"] for col in inspect(c).get_columns("samples")}
            )
            assert "detail" not in columns
    finally:
        await first.close()
    reopened = await Store.open(store_url)
    try:
        points = await reopened.chart_points("asi", clock(), clock(), "sample")
        assert points == [StoredPoint(clock(), 40.0, "coingecko", ())]
    finally:
        await reopened.close()
