"""Dispatch throughput: one alert fanned out to many webhook receivers that answer at once.

The receivers run in a second process (an aiohttp server on 127.0.0.1 answering 200 to every
POST), so the figure is the bot's own cost per delivery: claim, send through the real
WebhookNotifier, record. Prints deliveries per second and CPU milliseconds per delivery.

    .venv/bin/python bench/dispatch.py [--hooks 10000] [--workers 16] [--postgres URL | --no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import tempfile
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path

import aiohttp
import asyncpg
from aiohttp import web
from sqlalchemy import insert, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.delivery.dispatcher import Dispatcher
from bot.delivery.notifiers import WebhookNotifier
from bot.model.rules import RuleDefaults
from bot.storage import Store
from bot.storage.schema import destinations, subscriptions
from bot.watch.engine import AlertEngine
from signals.types import Sample


def serve(port_out: Connection) -> None:
    """Answer 200 to every POST, counting them; runs in its own process."""

    async def main() -> None:
        async def hook(_request: web.Request) -> web.Response:
            return web.Response(status=200)

        app = web.Application()
        app.router.add_post("/{name}", hook)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_out.send(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(main())


async def prepare(store: Store, base: str, hooks: int) -> AlertEngine:
    """Subscribe `hooks` webhooks to asi-above-50 in bulk and arm the rule."""
    now = datetime.now(UTC)
    async with store.engine.begin() as conn:
        await conn.execute(
            insert(destinations),
            [
                {"address": f"webhook:{base}/hook{i}", "active": True, "created_at": now}
                for i in range(hooks)
            ],
        )
        rows = await conn.execute(select(destinations.c.id))
        await conn.execute(
            insert(subscriptions),
            [{"destination_id": r.id, "rule_id": "asi-above-50"} for r in rows],
        )
    engine = AlertEngine(store, RuleDefaults(), lambda: datetime.now(UTC))
    await engine.ingest_sample(Sample("asi", 40.0, now, "bench"))
    return engine


async def measure(url: str, base: str, hooks: int, workers: int) -> tuple[float, float]:
    """Return (deliveries per second, CPU ms per delivery) for one fan-out to `hooks` receivers."""
    store = await Store.open(url)
    try:
        engine = await prepare(store, base, hooks)
        await engine.ingest_sample(Sample("asi", 55.0, datetime.now(UTC), "bench"))
        assert await store.pending_count() >= hooks
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=workers * 2)
        ) as session:
            dispatcher = Dispatcher(
                store,
                {"webhook": WebhookNotifier(session)},
                lambda: datetime.now(UTC),
                workers=workers,
                idle_poll=0.05,
            )
            cpu, wall = time.process_time(), time.perf_counter()
            task = asyncio.create_task(dispatcher.run())
            while await store.pending_count():  # noqa: ASYNC110  (the database is the signal)
                await asyncio.sleep(0.05)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            await dispatcher.stop()
            await task
        return hooks / wall, cpu / hooks * 1000
    finally:
        await store.close()


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
    parser.add_argument("--hooks", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    ours, theirs = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve, args=(theirs,), daemon=True)
    server.start()
    try:
        base = f"http://127.0.0.1:{ours.recv()}"
        print(f"{args.hooks:,} webhook receivers answering at once, {args.workers} send slots")
        with tempfile.TemporaryDirectory() as tmp:
            rate, cpu = await measure(
                f"sqlite+aiosqlite:///{tmp}/bench.db", base, args.hooks, args.workers
            )
            print(f"SQLite: {rate:,.0f} deliveries/s, {cpu:.2f} ms CPU per delivery", flush=True)
        if not args.no_postgres:
            url = await fresh_postgres(args.postgres)
            rate, cpu = await measure(url, base, args.hooks, args.workers)
            print(f"PostgreSQL: {rate:,.0f} deliveries/s, {cpu:.2f} ms CPU per delivery")
    finally:
        server.kill()


if __name__ == "__main__":
    asyncio.run(main())
