"""The HTTP side of the service: `/healthz` for platforms and uptime checks."""

from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import Callable, Sequence
from datetime import datetime

from aiohttp import web

from bot.storage import Store, StoreUnavailable
from bot.watch.pollers import SourceHealth
from timing import WallClock

HealthFn = Callable[[], Sequence[SourceHealth]]
PROBE_TIMEOUT = 1.0

# A connection idle this long, or still sending its request line and headers, is closed; a body
# too slow to arrive is cut off by the route reading it (`bot.web.ingest.BODY_TIMEOUT`).
IDLE_TIMEOUT = 15.0
# After answering a request whose body was not read (a 408, a 413), unread bytes are drained for
# at most this long before the connection closes.
_LINGER = 5.0


class CannotListen(Exception):
    """The server cannot bind HOST:PORT; the message is one line naming both and why."""


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
                    "last_value": _iso(h.last_value),
                    "age_seconds": h.age(now),
                    "fresh": h.fresh,
                    "failing_since": _iso(h.failing_since),
                    "failures": h.failures,
                    "last_error": h.last_error,
                    "warming": h.warming,
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


async def start_server(
    app: web.Application, port: int, host: str = "0.0.0.0", *, idle_timeout: float = IDLE_TIMEOUT
) -> web.AppRunner:
    """Serve `app` on `host:port` and return the runner that stops it.

    Raise `CannotListen` when the address cannot be bound (the port is taken, say).
    """
    runner = web.AppRunner(
        app,
        access_log=None,
        keepalive_timeout=idle_timeout,
        lingering_time=min(idle_timeout, _LINGER),
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise CannotListen(_listen_problem(exc, host, port)) from None
    return runner


def _listen_problem(exc: OSError, host: str, port: int) -> str:
    # asyncio wraps the OS error in "error while attempting to bind on address ...": name the cause.
    reason = os.strerror(exc.errno) if exc.errno else str(exc) or type(exc).__name__
    if exc.errno == errno.EADDRINUSE:
        return (
            f"PORT {port} is already in use on {host}: {reason}; stop the other server or set PORT"
        )
    if exc.errno == errno.EACCES:
        return f"PORT {port} on {host} is not allowed: {reason}; ports below 1024 need privileges"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"HOST {host} is not an address of this machine: {reason}; set HOST (e.g. 0.0.0.0)"
    return f"cannot listen on HOST {host} PORT {port}: {reason}"
