"""One poller per source: refresh on an interval, back off on failure, report health."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.model.formatting import format_age
from bot.storage import StoreUnavailable
from signals.types import FetchResult, RateLimited, Source, SourceError, Warming
from timing import Backoff, Rng, Sleep, WallClock

log = logging.getLogger(__name__)

_MAX_BACKOFF = 3600.0
# While the database is away, poll this often at most, so values flow again soon after it returns.
_STORE_RETRY = 5.0
# Sources that fail together (one network outage) spread their retries out.
_JITTER = (0.75, 1.25)


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """How a source is doing, for `/healthz` and `/status`."""

    name: str
    interval: float
    last_success: datetime | None
    last_attempt: datetime | None
    failing_since: datetime | None
    failures: int
    last_error: str | None
    metrics: tuple[str, ...]
    # When a refresh last produced a value (a refresh may succeed and publish only stale marks).
    last_value: datetime | None = None
    # How far a first long refresh (the ASI's back-fill) is, while it runs.
    warming: str | None = None

    def age(self, now: datetime) -> float | None:
        """Return seconds since the last refresh that produced a value."""
        return None if self.last_value is None else (now - self.last_value).total_seconds()

    @property
    def fresh(self) -> bool:
        """Return True when the last refresh worked and the source has produced a value."""
        return self.last_value is not None and self.failing_since is None


class Poller:
    """Refresh one source forever; a failure here never touches another poller."""

    def __init__(
        self,
        source: Source,
        interval: float,
        handle: Callable[[FetchResult], Awaitable[object]],
        mark_stale: Callable[[str, str], Awaitable[None]],
        clock: WallClock,
        *,
        down_after: timedelta = timedelta(hours=1),
        on_down: Callable[[str, str], Awaitable[None]] | None = None,
        on_recovered: Callable[[str], Awaitable[None]] | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: Rng = random.random,
        metrics: Sequence[str] = (),
    ) -> None:
        self.source = source
        self.interval = interval
        self._handle = handle
        self._mark_stale = mark_stale
        self._clock = clock
        self._down_after = down_after
        self._on_down = on_down
        self._on_recovered = on_recovered
        self._sleep = sleep
        self._rng = rng
        self._backoff = Backoff(base=interval, cap=_MAX_BACKOFF, jitter=_JITTER)
        self._last_success: datetime | None = None
        self._last_attempt: datetime | None = None
        self._failing_since: datetime | None = None
        self._failures = 0
        self._last_error: str | None = None
        self._last_value: datetime | None = None
        # The metrics the source declares, so a source that never answered still marks them.
        self._metrics: tuple[str, ...] = tuple(sorted(metrics))
        self._reported_down = False
        self._store_down_since: datetime | None = None

    @property
    def health(self) -> SourceHealth:
        return SourceHealth(
            name=self.source.name,
            interval=self.interval,
            last_success=self._last_success,
            last_attempt=self._last_attempt,
            failing_since=self._failing_since,
            failures=self._failures,
            last_error=self._last_error,
            metrics=self._metrics,
            last_value=self._last_value,
            warming=self.source.warming() if isinstance(self.source, Warming) else None,
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set; a fetch in progress is abandoned, a store in progress finishes."""
        while not stop.is_set():
            now = self._clock()
            fetch = asyncio.ensure_future(self.source.fetch(now))
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not fetch.done():
                fetch.cancel()
                await asyncio.wait({fetch})
                return
            # Never cancelled from here on: a transaction cut in half would hold the database.
            delay = await self._conclude(now, fetch)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    async def poll_once(self) -> float:
        """Refresh once and return how many seconds to wait before the next refresh."""
        now = self._clock()
        fetch = asyncio.ensure_future(self.source.fetch(now))
        await asyncio.wait({fetch})
        return await self._conclude(now, fetch)

    async def _conclude(self, now: datetime, fetch: asyncio.Future[FetchResult]) -> float:
        self._last_attempt = now
        try:
            result = fetch.result()
            await self._handle(result)
        except StoreUnavailable as exc:
            # The feed answered; the database did not. Not the source's failure: retry soon.
            return self._store_failed(exc)
        except RateLimited as exc:
            return await self._failed(exc.message, exc.retry_after)
        except SourceError as exc:
            return await self._failed(exc.message, None)
        except Exception as exc:
            # An unexpected error is a bug somewhere below; log it in full, but keep polling.
            log.exception("source %s: unexpected error", self.source.name)
            return await self._failed(f"{type(exc).__name__}: {exc}", None)
        self._store_answered()
        await self._succeeded(result)
        return self.interval

    def _store_failed(self, exc: StoreUnavailable) -> float:
        if self._store_down_since is None:
            self._store_down_since = self._clock()
            log.error(
                "source %s: the database is unavailable (%s); this poll's values are dropped "
                "and polling goes on",
                self.source.name,
                exc,
            )
        return min(self.interval, _STORE_RETRY) * (0.75 + self._rng() / 2)

    def _store_answered(self) -> None:
        if self._store_down_since is not None:
            log.warning(
                "source %s: the database answers again (%s)",
                self.source.name,
                format_age(self._clock() - self._store_down_since),
            )
            self._store_down_since = None

    async def _succeeded(self, result: FetchResult) -> None:
        now = self._clock()
        seen = {s.metric for s in result.samples} | {s.metric for s in result.stale}
        self._metrics = tuple(sorted(set(self._metrics) | seen))
        if self._failing_since is not None:
            log.info(
                "source %s recovered after %d failed attempts (%s)",
                self.source.name,
                self._failures,
                format_age(now - self._failing_since),
            )
            if self._reported_down and self._on_recovered is not None:
                await self._quietly(self._on_recovered(self.source.name))
        self._last_success = now
        if result.samples:
            self._last_value = now
        self._failing_since = None
        self._failures = 0
        self._last_error = None
        self._reported_down = False

    async def _failed(self, reason: str, retry_after: float | None) -> float:
        now = self._clock()
        self._failures += 1
        self._last_error = reason
        if self._failing_since is None:
            self._failing_since = now
            log.warning("source %s failing: %s", self.source.name, reason)
        else:
            log.debug("source %s still failing: %s", self.source.name, reason)
        for metric in self._metrics:
            await self._quietly(self._mark_stale(metric, f"{self.source.name}: {reason}"))
        if (
            not self._reported_down
            and self._on_down is not None
            and now - self._failing_since >= self._down_after
        ):
            self._reported_down = True
            await self._quietly(self._on_down(self.source.name, reason))
        delay = self._backoff.delay(self._failures, self._rng)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay

    async def _quietly(self, step: Awaitable[None]) -> None:
        """Run a bookkeeping step whose failure (the store is down) must not stop polling."""
        try:
            await step
        except Exception as exc:
            log.warning("source %s: bookkeeping failed: %s", self.source.name, exc)
