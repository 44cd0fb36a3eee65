"""The HTTP side of the service: `/healthz` for platforms and uptime checks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime

from aiohttp import web

from bot.storage import Store, StoreUnavailable
from bot.watch.pollers import SourceHealth
from timing import WallClock

HealthFn = Callable[[], Sequence[SourceHealth]]
PROBE_TIMEOUT = 1.0


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat().replace("+00:00", "Z")


def build_app(store: Store, sources: HealthFn, clock: WallClock) -> web.Application:
    """Return the aiohttp application serving `/healthz`."""

    async def healthz(_request: web.Request) -> web.Response:
        now = clock()
        body: dict[str, object] = {
            "sources": {
                h.name: {
                    "last_success": _iso(h.last_success),
                    "age_seconds": h.age(now),
                    "fresh": h.last_success is not None and h.failing_since is None,
                    "failing_since": _iso(h.failing_since),
                    "failures": h.failures,
                    "last_error": h.last_error,
                }
                for h in sources()
            }
        }
        try:
            # A platform's health check gives up after a few seconds: answer within one, even
            # while the database hangs (a PostgreSQL failover, another process's SQLite lock).
            async with asyncio.timeout(PROBE_TIMEOUT):
                await store.ping()
                body["pending_deliveries"] = await store.pending_count()
        except (StoreUnavailable, TimeoutError) as exc:
            body["status"] = "store unreachable"
            body["error"] = (
                str(exc)[:200] or f"the database did not answer within {PROBE_TIMEOUT:g} s"
            )
            return web.json_response(body, status=503)
        body["status"] = "ok"
        return web.json_response(body)

    app = web.Application(client_max_size=64 * 1024)
    app.router.add_get("/healthz", healthz)
    return app


async def start_server(app: web.Application, port: int, host: str = "0.0.0.0") -> web.AppRunner:
    """Serve `app` on `host:port` and return the runner that stops it."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
