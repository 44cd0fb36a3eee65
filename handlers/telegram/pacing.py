"""Pace outgoing Bot API messages under Telegram's flood limits instead of running into them.

`Pacer` is a python-telegram-bot rate limiter, so every message the bot sends (alerts and command
replies alike) shares one budget. It waits rather than fails: a message goes out at the earliest
moment that keeps the whole bot under the overall rate, its chat under the per-chat rate and a group
under the per-group rate. A 429 still pauses every send for as long as Telegram asks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

from timing import CellRate, MonotonicClock, Sleep, SlidingWindows

log = logging.getLogger(__name__)

ApiResult = bool | dict[str, Any] | list[dict[str, Any]]

# How much of a slot a sender may go early, making up for a timer that fired late.
_CATCH_UP = 0.25
# Bot API methods that put a message in a chat; reads (getChatMember...) and answers are not paced.
_PACED = ("send", "copyMessage", "forwardMessage", "editMessage")


@dataclass(frozen=True, slots=True)
class Rate:
    """At most `count` messages in any window of `seconds`."""

    count: int
    seconds: float

    def __post_init__(self) -> None:
        if self.count < 1 or self.seconds <= 0:
            raise ValueError(f"a rate needs count >= 1 and seconds > 0, got {self}")


@dataclass(frozen=True, slots=True)
class FloodLimits:
    """Telegram's published limits, and the safety margin kept below them."""

    overall: Rate = field(default_factory=lambda: Rate(30, 1.0))
    per_chat: Rate = field(default_factory=lambda: Rate(1, 1.0))
    per_group: Rate = field(default_factory=lambda: Rate(20, 60.0))
    # Requests reach Telegram a little later and less evenly than they leave; the margin
    # absorbs that jitter so pacing exactly at the limit does not tip over it.
    margin: float = 0.03

    def scaled(self, speedup: float) -> FloodLimits:
        """Return the same limits with every window `speedup` times shorter."""
        return FloodLimits(
            Rate(self.overall.count, self.overall.seconds / speedup),
            Rate(self.per_chat.count, self.per_chat.seconds / speedup),
            Rate(self.per_group.count, self.per_group.seconds / speedup),
            self.margin,
        )


class FloodSchedule:
    """The pure arithmetic of pacing: when may the next message to a chat go out."""

    def __init__(self, limits: FloodLimits) -> None:
        self.limits = limits
        # The overall rate is spread evenly rather than allowed in bursts: a burst of 30 that
        # arrives a few milliseconds unevenly is exactly what trips a sliding window.
        self.spacing = limits.overall.seconds / limits.overall.count * (1 + limits.margin)
        # A sender may go up to this much before its theoretical time (a generic cell rate
        # algorithm): timers fire a little late, and without this slack every late wake-up
        # would push all later messages back. It stays well inside the margin.
        self.tolerance = self.spacing * _CATCH_UP
        self._overall = CellRate(self.spacing, self.tolerance)
        # Slots are claimed ahead to spread waiting senders out; actual sends are checked again
        # against the theoretical time, so a sender that wakes late never bunches up.
        self._last_claimed = float("-inf")
        self._due = float("-inf")
        self._paused_until = float("-inf")
        self._chats = _windows(limits.per_chat, limits.margin)
        self._groups = _windows(limits.per_group, limits.margin)
        self._recorded = 0

    @property
    def paused_until(self) -> float:
        return self._paused_until

    def chat_ready_at(self, chat: str, is_group: bool) -> float:
        """Return when `chat` may receive its next message under its own limits."""
        # Zero, not minus infinity, for a chat with room: the monotonic clock never reads below it.
        ready = max(0.0, self._chats.window(chat).ready_at())
        if is_group:
            ready = max(ready, self._groups.window(chat).ready_at())
        return ready

    def claim_overall(self, now: float) -> float:
        """Reserve and return the next slot under the overall rate, no earlier than `now`."""
        slot = max(now, self._last_claimed + self.spacing, self.overall_ready_at())
        self._last_claimed = slot
        return slot

    def overall_ready_at(self) -> float:
        """Return the earliest moment the next message may actually leave."""
        return max(self._overall.ready_at(self._due), self._paused_until)

    def record(self, chat: str, is_group: bool, at: float) -> None:
        """Count a message to `chat` sent at `at`."""
        self._due = self._overall.next_due(self._due, at)
        self._chats.record(chat, at)
        if is_group:
            self._groups.record(chat, at)
        self._recorded += 1
        if self._recorded % 4096 == 0:
            self._chats.forget_idle(at)
            self._groups.forget_idle(at)

    def pause(self, now: float, seconds: float) -> None:
        """Hold every message until `seconds` after `now`."""
        self._paused_until = max(self._paused_until, now + seconds)

    def tracked_chats(self) -> int:
        """Return how many chats' windows are held in memory."""
        return len(self._chats)


def _windows(rate: Rate, margin: float) -> SlidingWindows[str]:
    return SlidingWindows(rate.count, rate.seconds * (1 + margin))


def retry_after_seconds(exc: RetryAfter) -> float:
    """Return how long Telegram asked to wait."""
    # The public `retry_after` warns of its coming type change on every read; PTB's own rate
    # limiter reads the timedelta it stores, and so do we.
    return exc._retry_after.total_seconds()


class _ChatGates:
    """One FIFO lock per chat, dropped once nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}

    @asynccontextmanager
    async def hold(self, chat: str) -> AsyncIterator[None]:
        """Hold `chat`'s lock, after everyone who asked for it earlier."""
        entry = self._locks.get(chat)
        if entry is None:
            entry = self._locks[chat] = (asyncio.Lock(), [0])
        lock, users = entry
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._locks[chat]

    def __len__(self) -> int:
        return len(self._locks)


class Pacer(BaseRateLimiter[int]):
    """A rate limiter that schedules messages under `FloodLimits`; `rate_limit_args` = retries."""

    def __init__(
        self,
        limits: FloodLimits | None = None,
        *,
        clock: MonotonicClock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.schedule = FloodSchedule(limits or FloodLimits())
        self._clock = clock
        self._sleep = sleep
        self._gates = _ChatGates()

    async def initialize(self) -> None:
        """Hold nothing to set up: the schedule lives in memory."""

    async def shutdown(self) -> None:
        """Hold nothing to release."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, ApiResult]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> ApiResult:
        """Send when the limits allow; on a 429 pause everyone and retry up to `rate_limit_args`."""
        chat_id = data.get("chat_id")
        if chat_id is None or not endpoint.startswith(_PACED):
            return await callback(*args, **kwargs)
        chat = str(chat_id)
        # Ids of groups, supergroups and channels are negative; @usernames name channels.
        is_group = chat.startswith(("-", "@"))
        retries = rate_limit_args or 0
        while True:
            await self.wait_turn(chat, is_group)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                self.pause(retry_after_seconds(exc))
                if retries <= 0:
                    raise
                retries -= 1

    async def wait_turn(self, chat: str, is_group: bool) -> None:
        """Return at the moment a message to `chat` may be sent, having counted it."""
        async with self._gates.hold(chat):
            now = self._clock()
            while (ready := self.schedule.chat_ready_at(chat, is_group)) > now:
                await self._sleep(ready - now)
                now = self._clock()
            slot = self.schedule.claim_overall(now)
            while True:
                if slot > now:
                    await self._sleep(slot - now)
                    now = self._clock()
                ready = self.schedule.overall_ready_at()
                if now >= ready:
                    self.schedule.record(chat, is_group, now)
                    return
                # Just short (woken a hair early, or behind a sender that woke late): keep this
                # place. Far short (a 429 pause began): queue again, so waiters spread out.
                spacing = self.schedule.spacing
                slot = ready if ready - now <= spacing else self.schedule.claim_overall(now)

    def pause(self, seconds: float) -> None:
        """Hold every paced message for `seconds`, as Telegram's flood control asked."""
        now = self._clock()
        if now + seconds > self.schedule.paused_until:
            log.warning("Telegram flood control: holding all messages for %.0f s", seconds)
        self.schedule.pause(now, seconds)

    def open_gates(self) -> int:
        """Return how many chats have a message waiting or being scheduled."""
        return len(self._gates)
