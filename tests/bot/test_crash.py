"""Kill -9 during fan-out, restart, repeat: every webhook gets every alert; what goes out twice.

Only a send the receiver got but whose answer was not yet committed can go out twice, and each
send slot waits for its answer's commit before it takes another row: a kill repeats at most one
send per slot. With receivers that answer at once the bot itself is the bottleneck, so every slot
is in that state nearly all the time and a kill repeats about as many sends as there are slots
(README, "Delivery guarantees", has the measured figures): one slot, at most one per kill.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web

from bot.storage import Store
from tests.fakes.feeds import FeedServer, cg_global, offline_feeds

HOOKS = 40
TRIALS = int(os.environ.get("CRASH_TRIALS", "12"))

pytestmark = pytest.mark.slow


@dataclass
class Receiver:
    """Webhook receivers at /hook<n> that answer at once, the hardest case for the window between
    a receiver's answer and the commit that records it; a request counts the moment it arrives."""

    received: list[tuple[str, str]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((request.path, request.headers["Idempotency-Key"]))
        return web.Response(status=200)

    def unique(self) -> int:
        return len(set(self.received))


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/{name}", rec.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield rec, f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def wait_until(predicate: object, what: str, timeout: float = 60) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not predicate():  # type: ignore[operator]
                await asyncio.sleep(0.002)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


@pytest.mark.parametrize("workers", [1, 16])
async def test_kill_9_during_fan_out_loses_nothing(
    tmp_path: Path, receiver: tuple[Receiver, str], workers: int
) -> None:
    rec, base = receiver
    rng = random.Random(20261121)
    async with FeedServer() as feeds:
        env = {
            **os.environ,
            # Feeds the test does not script answer from a closed port: nothing leaves the host.
            **{name.upper(): url for name, url in offline_feeds().items()},
            "DATABASE_URL": f"sqlite:///{tmp_path / 'radar.db'}",
            "COINGECKO_API_URL": feeds.coingecko_url,
            "COINPAPRIKA_API_URL": feeds.url,
            "YAHOO_API_URL": feeds.url,
            "POLL_SECONDS": "0.1",
            "COINGECKO_CALLS_PER_MINUTE": "6000",
            "COINPAPRIKA_POLL_SECONDS": "0.1",
            "DISPATCH_WORKERS": str(workers),
            "PORT": "0",
            "LOG_LEVEL": os.environ.get("CRASH_LOG_LEVEL", "ERROR"),
        }
        env.pop("TELEGRAM_TOKEN", None)
        env.pop("DISCORD_TOKEN", None)

        async def cli(*args: str) -> int:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", *args, cwd=tmp_path, env=env
            )
            return await proc.wait()

        assert await cli("subscribe", f"webhook:{base}/hook0", "btc-dominance-below-59") == 0
        store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'radar.db'}")
        for i in range(1, HOOKS):
            await store.subscribe(
                f"webhook:{base}/hook{i}", ["btc-dominance-below-59"], datetime.now(UTC)
            )
        await store.close()

        start = datetime.now(UTC)
        value = 60.0
        feeds.coingecko_global = cg_global(2.5e12, value, 15.0, start)

        async def launch() -> asyncio.subprocess.Process:
            return await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                cwd=tmp_path,
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
            )

        running: list[asyncio.subprocess.Process] = []
        try:
            proc = await launch()
            running.append(proc)
            # The rule must see dominance above 59 before a fall below it is a crossing.
            await wait_until(lambda: feeds.calls("/api/v3/global") >= 2, "the first /global polls")
            for trial in range(1, TRIALS + 1):
                # 60 -> 58 fires; 58 -> 60 (past the 0.25 band) resolves: each flip is one event.
                value = 58.0 if value == 60.0 else 60.0
                at = start + timedelta(seconds=trial)
                feeds.coingecko_global = cg_global(2.5e12, value, 15.0, at)
                before = HOOKS * (trial - 1)
                cut = before + rng.randint(1, HOOKS - 1)
                await wait_until(lambda c=cut: rec.unique() >= c, f"trial {trial} to reach {cut}")
                proc.send_signal(signal.SIGKILL)
                await proc.wait()
                proc = await launch()
                running.append(proc)
                await wait_until(
                    lambda t=trial: rec.unique() >= HOOKS * t, f"trial {trial} to complete"
                )
            await asyncio.sleep(0.5)
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 10) == 0

        finally:
            for leftover in running:
                if leftover.returncode is None:
                    leftover.kill()
                    await leftover.wait()

    keys = sorted({key for _, key in rec.received}, key=int)
    assert len(keys) == TRIALS
    for i in range(HOOKS):
        got = {key for path, key in rec.received if path == f"/hook{i}"}
        assert got == set(keys), f"/hook{i} missed {set(keys) - got}"
    duplicates = len(rec.received) - rec.unique()
    # Each trial is one alert (one key) and one kill.
    repeated = [sum(1 for _, k in rec.received if k == key) - HOOKS for key in keys]
    print(
        f"\n{workers} slots, {TRIALS} kill -9 trials, {len(rec.received)} requests, "
        f"{duplicates} duplicates, per kill {repeated}"
    )
    assert max(repeated) <= workers, repeated
