"""Space alert sends so a large fan-out stays under Discord's per-channel and global rates.

discord.py already waits out every 429 it gets; pacing keeps a burst from earning those 429s in
the first place (Discord bans bots that collect too many). The schedule is GCRA: each channel may
burst up to its limit, then gets one slot per `window / limit`, and the whole bot one slot per
`1 / overall` second. A send whose slot is further away than `max_wait` is not held: the caller
hears how long to wait and can hand the message back to its queue.
"""

from __future__ import annotations

import asyncio
import time

from timing import CellRate, MonotonicClock, Sleep

# Discord's message route allows about 5 messages per 5 seconds in one channel, and 50 requests a
# second per bot; the overall pace keeps a margin for command replies and syncs.
PER_CHANNEL = 5
CHANNEL_WINDOW = 5.0
OVERALL_PER_SECOND = 40.0
MAX_WAIT = 30.0
# Forget idle channels once this many are tracked, so the table stays the size of the busy set.
_PRUNE_AT = 1024


class Backlogged(Exception):
    """The next free slot is too far away to wait for in place."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"next send slot in {wait:.1f}s")
        self.wait = wait


class Pacer:
    """Hand out send slots per channel and overall, waiting for a slot when it is near."""

    def __init__(
        self,
        *,
        per_channel: int = PER_CHANNEL,
        channel_window: float = CHANNEL_WINDOW,
        overall_per_second: float = OVERALL_PER_SECOND,
        max_wait: float = MAX_WAIT,
        clock: MonotonicClock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if per_channel < 1 or channel_window <= 0 or overall_per_second <= 0:
            raise ValueError("pacing needs a positive count and window")
        self._channel = CellRate.bursting(per_channel, channel_window)
        self._overall = CellRate.bursting(overall_per_second, 1.0)
        self._max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        # Theoretical arrival times: when each channel (and the bot) is next "due" at steady pace.
        self._due: dict[int, float] = {}
        self._overall_due = 0.0

    async def acquire(self, channel_id: int) -> float:
        """Wait for a send slot for `channel_id`; return the seconds waited.

        Raises `Backlogged` instead of waiting longer than `max_wait`; no slot is taken then.
        """
        now = self._clock()
        channel_due = self._due.get(channel_id, now)
        start = max(
            now,
            self._channel.ready_at(channel_due),
            self._overall.ready_at(self._overall_due),
        )
        wait = start - now
        if wait > self._max_wait:
            raise Backlogged(wait)
        # Reserve before sleeping so concurrent senders queue behind this one, not beside it.
        self._due[channel_id] = self._channel.next_due(channel_due, start)
        self._overall_due = self._overall.next_due(self._overall_due, start)
        if len(self._due) > _PRUNE_AT:
            self._due = {key: due for key, due in self._due.items() if due > now}
        if wait > 0:
            await self._sleep(wait)
        return wait
