"""Time from a sample's arrival to all its outbox rows committed, on SQLite and PostgreSQL.

10,000 subscriptions and 200 rules: every destination follows `asi-above-50`, and 194 custom rules
on the same metric belong to 194 of them. Samples alternate 40 / 55, so each one fires or resolves
the built-in rule for all 10,000 destinations while all 200 rules are evaluated.

    .venv/bin/python bench/engine.py [--samples 60] [--postgres URL | --no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path

import asyncpg
from sqlalchemy import insert, select, update

# Run as a script, this folder comes first on the path, and bench/signals.py would shadow the
# signals package: put the project root ahead of it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.delivery.dispatcher import Dispatcher
from bot.model.alerts import AlertMessage, HeldSummary
from bot.model.delivery import DeliveryOutcome, Notifier, OutboxItem, Outcome
from bot.model.destinations import Destination, Scheme
from bot.model.rules import RuleDefaults, RuleSpec
from bot.storage import Store
from bot.storage.schema import destinations, outbox, subscriptions
from bot.watch.engine import AlertEngine
from signals.types import Sample

SUBSCRIPTIONS = 10_000
CUSTOM_RULES = 194


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC) - timedelta(hours=1)

    def __call__(self) -> datetime:
        return self.now


async def prepare(store: Store, clock: Clock) -> AlertEngine:
    """Create the destinations, subscriptions and custom rules in bulk."""
    addresses = [f"telegram:{1_000_000 + i}" for i in range(SUBSCRIPTIONS)]
    async with store.engine.begin() as conn:
        await conn.execute(
            insert(destinations),
            [{"address": a, "active": True, "created_at": clock()} for a in addresses],
        )
        rows = await conn.execute(select(destinations.c.id))
        await conn.execute(
            insert(subscriptions),
            [{"destination_id": r.id, "rule_id": "asi-above-50"} for r in rows],
        )
    for i in range(CUSTOM_RULES):
        spec = RuleSpec("asi", "crosses above", 10.0 + i * 0.4)
        await store.add_custom_rule(f"telegram:{1_000_000 + i}", spec, clock(), limit=5)
    engine = AlertEngine(store, RuleDefaults(), clock)
    await engine.reload()
    assert len(await engine.rules()) >= 200
    return engine


async def ack_window(store: Store, clock: Clock, deliveries: int, workers: int = 16) -> list[float]:
    """Time from a notifier's acknowledgement to the commit that marks its row sent, in ms.

    The real dispatcher with `workers` send slots and a receiver that answers at once: the
    hardest case for the window, since every slot answers while the others' commits queue.
    """
    acked: dict[int, float] = {}
    windows: list[float] = []
    enough = asyncio.Event()
    record = store.record

    async def timed_record(outcomes: Sequence[Outcome], worker: str, max_attempts: int) -> None:
        await record(outcomes, worker, max_attempts)
        done = time.perf_counter()
        windows.extend((done - acked[o.item.id]) * 1000 for o in outcomes)
        if len(windows) >= deliveries:
            enough.set()

    class Instant:
        """A receiver that answers at once."""

        scheme: Scheme = "telegram"

        async def send(
            self, _destination: Destination, _message: AlertMessage, _zone: tzinfo = UTC
        ) -> None:
            await asyncio.sleep(0)

        async def send_summary(
            self, _destination: Destination, _summary: HeldSummary, _zone: tzinfo = UTC
        ) -> None:
            await asyncio.sleep(0)

    dispatcher = Dispatcher(store, {"telegram": Instant()}, clock, workers=workers, idle_poll=0.01)
    # The notifier sees a message, not its outbox row: stamp the answer around the real send.
    send = dispatcher._send

    async def stamped(n: Notifier, item: OutboxItem) -> DeliveryOutcome:
        outcome = await send(n, item)
        acked[item.id] = time.perf_counter()
        return outcome

    dispatcher._send = stamped  # type: ignore[method-assign]
    store.record = timed_record  # type: ignore[method-assign]
    task = asyncio.create_task(dispatcher.run())
    try:
        await asyncio.wait_for(enough.wait(), 120)
    finally:
        await dispatcher.stop()
        await task
        store.record = record  # type: ignore[method-assign]
    return windows[:deliveries]


async def mark_all_sent(store: Store) -> None:
    """Play a dispatcher that keeps up: everything queued so far counts as delivered."""
    async with store.engine.begin() as conn:
        await conn.execute(update(outbox).where(outbox.c.status == "pending").values(status="sent"))


async def measure(url: str, samples: int, drained: bool) -> tuple[list[float], int, list[float]]:
    store = await Store.open(url)
    clock = Clock()
    try:
        started = time.perf_counter()
        engine = await prepare(store, clock)
        print(f"  set-up: {time.perf_counter() - started:.1f} s", flush=True)
        timings = []
        queued = 0
        for i in range(samples + 2):
            clock.now += timedelta(seconds=30)
            sample = Sample("asi", 55.0 if i % 2 else 40.0, clock.now, "bench")
            pending = await store.pending_count()
            start = time.perf_counter()
            fired = await engine.ingest_sample(sample)
            elapsed = time.perf_counter() - start
            if i >= 2:  # the first two arm the rules and warm the caches
                timings.append(elapsed * 1000)
                assert fired
                queued += await store.pending_count() - pending
            if drained or i < 2:
                await mark_all_sent(store)
            # The maintenance loop checkpoints SQLite's log and analyzes PostgreSQL's outbox meanwhile.
            await store.checkpoint()
        if drained:
            # Leave the last sample's rows pending for the acknowledgement measurement.
            clock.now += timedelta(seconds=30)
            last = Sample("asi", 55.0 if (samples + 2) % 2 else 40.0, clock.now, "bench")
            await engine.ingest_sample(last)
        return timings, queued // len(timings), await ack_window(store, clock, 2000)
    finally:
        await store.close()


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):.2f} ms, p99 {p99:.2f} ms, max {ordered[-1]:.2f} ms"


def report(name: str, timings: list[float], queued: int, windows: list[float]) -> None:
    print(
        f"{name}: sample to outbox committed, {len(timings)} samples, "
        f"{queued:,} outbox rows each: {percentiles(timings)}"
    )
    print(
        f"{name}: acknowledgement to 'sent' committed (the duplicate window), "
        f"{len(windows)} deliveries: {percentiles(windows)}"
    )


async def fresh_postgres(url: str) -> str:
    """Create an empty database beside `url` for the run and return its async URL."""
    admin = await asyncpg.connect(url, timeout=5)
    try:
        await admin.execute('DROP DATABASE IF EXISTS "radar_bench" WITH (FORCE)')
        await admin.execute('CREATE DATABASE "radar_bench"')
    finally:
        await admin.close()
    return url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + "/radar_bench"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    print(f"{SUBSCRIPTIONS:,} subscriptions, {CUSTOM_RULES + 6} rules on one metric")
    # "kept up": a dispatcher delivers each fan-out before the next sample (the normal case);
    # "backlog": nothing is delivered, so every sample's rows pile up on the last (the worst case).
    for mode, drained in (("kept up", True), ("backlog", False)):
        with tempfile.TemporaryDirectory() as tmp:
            print(f"SQLite, {mode}:", flush=True)
            timings, queued, windows = await measure(
                f"sqlite+aiosqlite:///{tmp}/bench.db", args.samples, drained
            )
            report(f"SQLite, {mode}", timings, queued, windows)
        if not args.no_postgres:
            print(f"PostgreSQL, {mode}:", flush=True)
            url = await fresh_postgres(args.postgres)
            timings, queued, windows = await measure(url, args.samples, drained)
            report(f"PostgreSQL, {mode}", timings, queued, windows)


if __name__ == "__main__":
    asyncio.run(main())
