"""Pacing on a virtual clock: bursts per channel, a steady pace after, an overall cap, and backlog."""

from __future__ import annotations

import asyncio

import pytest

from handlers.discord.pacing import Backlogged, Pacer


class VirtualTime:
    """A clock and a sleep that advance together, without waiting for real."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def pacer(time: VirtualTime, **options: float) -> Pacer:
    return Pacer(clock=time.clock, sleep=time.sleep, **options)  # type: ignore[arg-type]


async def test_a_channel_bursts_five_then_gets_one_a_second() -> None:
    time = VirtualTime()
    pace = pacer(time)
    waits = await asyncio.gather(*(pace.acquire(7) for _ in range(8)))
    assert waits == pytest.approx([0, 0, 0, 0, 0, 1, 2, 3])


async def test_the_burst_comes_back_after_an_idle_window() -> None:
    time = VirtualTime()
    pace = pacer(time)
    for _ in range(5):
        await pace.acquire(7)
    time.now += 5.0
    assert [await pace.acquire(7) for _ in range(5)] == [0, 0, 0, 0, 0]


async def test_channels_do_not_wait_for_each_other_below_the_overall_rate() -> None:
    time = VirtualTime()
    pace = pacer(time)
    waits = await asyncio.gather(*(pace.acquire(channel) for channel in range(30)))
    assert waits == [0] * 30


async def test_a_large_fan_out_is_spread_at_the_overall_rate() -> None:
    time = VirtualTime()
    pace = pacer(time, overall_per_second=40.0)
    waits = await asyncio.gather(*(pace.acquire(channel) for channel in range(120)))
    assert waits[:40] == pytest.approx([0] * 40, abs=1e-9)
    assert waits[40:] == pytest.approx([(n + 1) / 40 for n in range(80)])


async def test_a_slot_too_far_away_is_refused_without_taking_it() -> None:
    time = VirtualTime()
    pace = pacer(time, max_wait=2.0)
    for _ in range(7):
        await pace.acquire(7)
    with pytest.raises(Backlogged) as caught:
        await pace.acquire(7)
    assert caught.value.wait == pytest.approx(3.0)
    time.now += 1.0
    assert await pace.acquire(7) == pytest.approx(2.0)


def test_nonsense_rates_are_rejected() -> None:
    with pytest.raises(ValueError, match="positive"):
        Pacer(per_channel=0)
