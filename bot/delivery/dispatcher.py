"""Deliver outbox rows: claimed, sent outside any transaction, acknowledged in group commits.

One loop owns the database side: it commits the outcomes that came back (all of them in one
transaction, ahead of any new read, so a receiver's answer reaches the database within
milliseconds) and then claims due rows for each platform's lane. Each platform has its own lane
of send slots, so a flood or an outage on one never holds up another. A claim is a lease: a
worker that dies or freezes loses its rows when the lease runs out and another worker takes them
over. An outcome that cannot be committed (the database is away) stays in memory and is retried
until it commits, so an outage delays the "sent" mark but never causes a resend while the
process lives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.model.delivery import (
    Claimed,
    DeliveryOutcome,
    DestinationMoved,
    Moved,
    Notifier,
    OutboxItem,
    Outcome,
    PermanentDeliveryError,
    Refused,
    Retry,
    Sent,
    TransientDeliveryError,
)
from bot.storage import Store, StoreUnavailable
from timing import Backoff, Rng, WallClock

log = logging.getLogger(__name__)

# A failed row waits 2 s, then twice as long after each failure, at most 10 min, jittered down to
# half so the rows of one outage do not all come back at once.
RETRY_BACKOFF = Backoff(base=2.0, cap=600.0, jitter=(0.5, 1.0))
# While the database is away: try again within half a second, then back off to ten.
_OUTAGE_BACKOFF = Backoff(base=0.5, cap=10.0, jitter=(0.5, 1.0))
_IDLE_POLL = 1.0
DEFAULT_LEASE = timedelta(seconds=60)
# How often held alerts whose mute or quiet hours have ended are released: a summary goes out at
# most this long after the hold ends (at once after /unmute, which releases them itself).
DEFAULT_RELEASE_EVERY = timedelta(seconds=5)
# A row whose lease is this close to running out is not sent: another worker may take it over.
# (A quarter of the lease when that is shorter.)
_LEASE_MARGIN = timedelta(seconds=15)
# Rows claimed ahead per send slot, and at least this many per lane: enough to keep the slots
# busy between two claims, and a claim per row would cost more than the sends.
_PREFETCH = 2
_MIN_BATCH = 32


def worker_name() -> str:
    """Return a name for this process's claims: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass
class _Lane:
    """One platform's send slots and the claimed rows waiting for them."""

    notifier: Notifier
    slots: int
    queue: asyncio.Queue[Claimed | None] = field(default_factory=asyncio.Queue)
    busy: int = 0
    workers: list[asyncio.Task[None]] = field(default_factory=list)

    def room(self) -> int:
        """Return how many more rows to claim for this lane now."""
        return self.capacity() - self.queue.qsize() - self.busy

    def capacity(self) -> int:
        """Return how many rows this lane holds at most: queued plus being sent."""
        return max(self.slots * _PREFETCH, _MIN_BATCH)


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
        lease: timedelta = DEFAULT_LEASE,
        release_every: timedelta = DEFAULT_RELEASE_EVERY,
        rng: Rng = random.random,
        name: str | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._slots = workers
        self._max_attempts = max_attempts
        self._idle_poll = idle_poll
        self._lease = lease
        self._margin = min(_LEASE_MARGIN, lease / 4)
        self._release_every = release_every
        self._released_at: datetime | None = None
        self._rng = rng
        self.name = name or worker_name()
        self._lanes: dict[str, _Lane] = {}
        self._running = False
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        # Rows this process holds: claimed, being sent, or answered but not yet recorded.
        self._held: set[int] = set()
        self._answered: list[Outcome] = []
        # Each sender waits for its own answer to be committed before it takes another row, so
        # at any moment at most one answered-but-unrecorded send per slot could be repeated.
        self._recorded: dict[int, asyncio.Future[None]] = {}
        self._answers = asyncio.Event()
        self._outage_since: datetime | None = None
        self._outage_failures = 0
        # Per scheme, why delivery is failing: log once when it starts and once when it ends,
        # not once per row (a Telegram outage would otherwise log every subscribed chat).
        self._failing: dict[str, str] = {}
        for notifier in notifiers.values():
            self.add_notifier(notifier)

    def wake(self) -> None:
        """Look for due rows now rather than at the next poll."""
        self._wake.set()

    def add_notifier(self, notifier: Notifier) -> None:
        """Deliver to `notifier.scheme` destinations from now on, in a lane of their own."""
        old = self._lanes.get(notifier.scheme)
        if old is not None:
            old.notifier = notifier
        else:
            lane = _Lane(notifier, self._slots)
            self._lanes[notifier.scheme] = lane
            if self._running:
                self._start_lane(lane)
        self._wake.set()

    async def run(self) -> None:
        """Dispatch until `stop`, then let every row in flight finish and record it."""
        self._running = True
        for lane in list(self._lanes.values()):
            self._start_lane(lane)
        recorder = asyncio.create_task(self._record_loop(), name="dispatch-recorder")
        try:
            await self._release_stale_claims()
            while not self._stopping.is_set():
                self._wake.clear()
                try:
                    ok = await self._step()
                except Exception:
                    # A bug here must not end delivery for good: say so, back off, carry on.
                    log.exception("dispatcher step failed; retrying")
                    self._outage_failures += 1
                    ok = False
                await self._pause(self._idle_poll if ok else self._outage_delay())
        finally:
            recorder.cancel()
            await asyncio.gather(recorder, return_exceptions=True)
            await self._shut_down()

    async def stop(self) -> None:
        """Take no new rows; `run` returns once the rows in flight are recorded."""
        self._stopping.set()
        self._wake.set()

    # --- the database side ----------------------------------------------------------------------

    async def _release_stale_claims(self) -> None:
        # SQLite serves one process: claims left by a previous run of it (killed mid-send) can be
        # released at once instead of waiting out their lease. PostgreSQL replicas wait.
        if self._store.dialect != "sqlite":
            return
        try:
            released = await self._store.release_claims()
        except StoreUnavailable:
            return
        if released:
            log.info("released %d deliveries claimed by an earlier run", released)

    async def _record_loop(self) -> None:
        """Commit answers as they come back, in groups, beside the claims (its own connection)."""
        while True:
            await self._answers.wait()
            self._answers.clear()
            try:
                await self._record_answered()
            except StoreUnavailable as exc:
                self._database_failed(exc)
                await asyncio.sleep(self._outage_delay())
                self._answers.set()
            except Exception:
                log.exception("recording delivery outcomes failed; retrying")
                await asyncio.sleep(self._outage_delay())
                self._answers.set()

    async def _step(self) -> bool:
        """Release ended holds, claim for every lane with room; False if the database failed."""
        try:
            await self._release_ended_holds()
            # A copy: a front-end that starts meanwhile adds its lane.
            for scheme, lane in list(self._lanes.items()):
                room = lane.room()
                if room <= 0 or self._stopping.is_set():
                    continue
                if room < lane.capacity() // 2 and not lane.queue.empty():
                    # Claim in batches: the rows still queued keep the slots busy meanwhile, and
                    # a claim per answer would cost more than the sends.
                    continue
                if self._answered:
                    # Let the recorder take the connection first (SQLite has only one).
                    await asyncio.sleep(0)
                claimed = await self._store.claim(
                    self.name, [scheme], room, self._clock(), self._lease, self._held
                )
                for row in claimed:
                    self._held.add(row.item.id)
                    lane.queue.put_nowait(row)
        except StoreUnavailable as exc:
            self._database_failed(exc)
            return False
        self._database_answered()
        return True

    async def _release_ended_holds(self) -> None:
        now = self._clock()
        if self._released_at is not None and now - self._released_at < self._release_every:
            return
        released = await self._store.release_due(now)
        self._released_at = now
        if released:
            log.info("%d held alerts released: their mute or quiet hours ended", released)

    async def _record_answered(self) -> None:
        if not self._answered:
            return
        batch = list(self._answered)
        await self._store.record(batch, self.name, self._max_attempts)
        # Outcomes that arrived while the commit ran stay for the next one.
        del self._answered[: len(batch)]
        for outcome in batch:
            self._held.discard(outcome.item.id)
            waiter = self._recorded.pop(outcome.item.id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    def _database_failed(self, exc: Exception) -> None:
        self._outage_failures += 1
        if self._outage_since is None:
            self._outage_since = self._clock()
            log.error(
                "database unavailable (%s); deliveries pause, %d answered sends held in memory "
                "until they can be recorded",
                exc,
                len(self._answered),
            )

    def _database_answered(self) -> None:
        if self._outage_since is not None:
            log.warning(
                "database answers again after %.0f s; delivery resumes",
                (self._clock() - self._outage_since).total_seconds(),
            )
        self._outage_since = None
        self._outage_failures = 0

    def _outage_delay(self) -> float:
        return _OUTAGE_BACKOFF.delay(max(1, self._outage_failures), self._rng)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _shut_down(self) -> None:
        """Stop the lanes, let sends in flight finish, and record every answer we can."""
        unsent: list[int] = []
        for lane in list(self._lanes.values()):
            while not lane.queue.empty():
                row = lane.queue.get_nowait()
                if row is not None:
                    unsent.append(row.item.id)
            for _ in lane.workers:
                lane.queue.put_nowait(None)
        workers = {t for lane in self._lanes.values() for t in lane.workers}
        for row_id in unsent:
            self._held.discard(row_id)
        # Senders finish their send and wait for its record; keep recording until all are done.
        # While the database is away this waits: the caller bounds the shutdown.
        while workers or self._answered:
            try:
                await self._record_answered()
            except StoreUnavailable as exc:
                self._database_failed(exc)
                await asyncio.sleep(self._outage_delay())
                continue
            if workers:
                _, workers = await asyncio.wait(
                    workers, timeout=0.05, return_when=asyncio.FIRST_COMPLETED
                )
        self._running = False
        if unsent:
            with contextlib.suppress(StoreUnavailable):
                await self._store.release_claims(unsent, self.name)

    # --- the sending side -----------------------------------------------------------------------

    def _start_lane(self, lane: _Lane) -> None:
        scheme = lane.notifier.scheme
        lane.workers = [
            asyncio.create_task(self._work(lane), name=f"deliver-{scheme}-{i}")
            for i in range(lane.slots)
        ]

    async def _work(self, lane: _Lane) -> None:
        while True:
            row = await lane.queue.get()
            if row is None:
                return
            if self._clock() >= row.until - self._margin:
                # Too late to send safely: the claim may pass to another worker any moment.
                self._held.discard(row.item.id)
                continue
            lane.busy += 1
            try:
                result = await self._send(lane.notifier, row.item)
            finally:
                lane.busy -= 1
            recorded = asyncio.get_running_loop().create_future()
            self._recorded[row.item.id] = recorded
            self._answered.append(Outcome(row.item, result, self._clock()))
            self._answers.set()
            self._wake.set()
            self._report(row.item, result)
            await recorded

    async def _send(self, notifier: Notifier, item: OutboxItem) -> DeliveryOutcome:
        try:
            if item.held:
                await notifier.send_summary(item.destination, item.summary(), item.zone)
            else:
                await notifier.send(item.destination, item.event.message(), item.zone)
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
