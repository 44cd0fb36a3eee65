"""Deliver outbox rows: in order per destination, retried with backoff, each one acknowledged."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections.abc import Mapping
from datetime import timedelta

from bot.model.delivery import (
    DeliveryOutcome,
    DestinationMoved,
    Moved,
    Notifier,
    OutboxItem,
    PermanentDeliveryError,
    Refused,
    Retry,
    Sent,
    TransientDeliveryError,
)
from bot.storage import Store
from timing import Backoff, Rng, WallClock

log = logging.getLogger(__name__)

# A failed row waits 2 s, then twice as long after each failure, at most 10 min, jittered down to
# half so the rows of one outage do not all come back at once.
RETRY_BACKOFF = Backoff(base=2.0, cap=600.0, jitter=(0.5, 1.0))
_IDLE_POLL = 1.0


class Dispatcher:
    """Send pending outbox rows through the notifier of each destination's scheme."""

    def __init__(
        self,
        store: Store,
        notifiers: Mapping[str, Notifier],
        clock: WallClock,
        *,
        workers: int = 16,
        max_attempts: int = 12,
        idle_poll: float = _IDLE_POLL,
        rng: Rng = random.random,
    ) -> None:
        self._store = store
        self._notifiers = dict(notifiers)
        self._clock = clock
        self._workers = asyncio.Semaphore(workers)
        self._worker_count = workers
        self._batch = workers * 8
        self._max_attempts = max_attempts
        self._idle_poll = idle_poll
        self._rng = rng
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._active: dict[int, asyncio.Task[None]] = {}
        # Per scheme, why delivery is failing: log once when it starts and once when it ends,
        # not once per row (a Telegram outage would otherwise log every subscribed chat).
        self._failing: dict[str, str] = {}

    def wake(self) -> None:
        """Look for due rows now rather than at the next poll."""
        self._wake.set()

    def add_notifier(self, notifier: Notifier) -> None:
        """Deliver to `notifier.scheme` destinations from now on."""
        self._notifiers[notifier.scheme] = notifier
        self.wake()

    async def run(self) -> None:
        """Dispatch until `stop`, then let every row in flight finish."""
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                await self._dispatch_due()
                await self._idle()
        finally:
            await self._drain_in_flight()

    async def stop(self) -> None:
        """Take no new rows; `run` returns once the rows in flight are recorded."""
        self._stopping.set()
        self._wake.set()

    async def _idle(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self._idle_poll)

    async def _dispatch_due(self) -> None:
        due = await self._store.due_destinations(self._clock(), self._batch, tuple(self._notifiers))
        for dest_id in due:
            if dest_id in self._active or self._stopping.is_set():
                continue
            task = asyncio.create_task(self._drain(dest_id), name=f"deliver-{dest_id}")
            self._active[dest_id] = task
            task.add_done_callback(functools.partial(self._finished, dest_id))

    def _finished(self, dest_id: int, _task: asyncio.Task[None]) -> None:
        self._active.pop(dest_id, None)
        # Look for more work once the queue of started destinations runs low, not after each one.
        if len(self._active) < self._worker_count:
            self._wake.set()

    async def _drain_in_flight(self) -> None:
        tasks = list(self._active.values())
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _drain(self, dest_id: int) -> None:
        async with self._workers:
            while not self._stopping.is_set():
                done = await self._store.deliver_next(
                    dest_id, self._clock, self._send, self._max_attempts
                )
                if done is None:
                    return
                item, outcome = done
                self._report(item, outcome)
                if not isinstance(outcome, Sent | Moved):
                    return

    async def _send(self, item: OutboxItem) -> DeliveryOutcome:
        notifier = self._notifiers[item.destination.scheme]
        try:
            await notifier.send(item.destination, item.event.message())
        except TransientDeliveryError as exc:
            delay = (
                timedelta(seconds=exc.retry_after)
                if exc.retry_after is not None
                else self._backoff(item)
            )
            return Retry(delay, exc.reason)
        except PermanentDeliveryError as exc:
            return Refused(exc.reason)
        except DestinationMoved as exc:
            return Moved(exc.new_destination)
        except Exception as exc:
            # A notifier bug must not stop delivery to everyone else; the row is retried.
            log.exception("notifier %s failed on %s", notifier.scheme, item.destination)
            return Retry(self._backoff(item), f"{type(exc).__name__}: {exc}")
        return Sent()

    def _backoff(self, item: OutboxItem) -> timedelta:
        """Return the wait before retrying `item`, which has now failed `attempts + 1` times."""
        return timedelta(seconds=RETRY_BACKOFF.delay(item.attempts + 1, self._rng))

    def _report(self, item: OutboxItem, outcome: DeliveryOutcome) -> None:
        scheme = item.destination.scheme
        match outcome:
            case Sent():
                if self._failing.pop(scheme, None) is not None:
                    log.info("delivery via %s works again", scheme)
            case Retry(delay=delay, error=error):
                if item.attempts + 1 >= self._max_attempts:
                    log.error(
                        "giving up on event %d for %s after %d attempts: %s",
                        item.event.id,
                        item.destination,
                        item.attempts + 1,
                        error,
                    )
                elif scheme not in self._failing:
                    self._failing[scheme] = error
                    log.warning(
                        "delivery via %s failing (%s, first at %s); retrying with backoff",
                        scheme,
                        error,
                        item.destination,
                    )
                else:
                    log.debug(
                        "delivery to %s failed (%s); retry in %.0f s",
                        item.destination,
                        error,
                        delay.total_seconds(),
                    )
            case Refused(reason=reason):
                log.warning("deactivated %s: %s", item.destination, reason)
            case Moved(new=new):
                log.info("%s moved to %s; subscriptions follow", item.destination, new)
