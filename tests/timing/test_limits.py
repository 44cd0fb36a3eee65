"""Rate limits in virtual time: a steady cell rate, sliding windows, and the two wrappers."""

from __future__ import annotations

import asyncio
import math

import pytest

from tests.fakes.clock import FakeTime
from timing import CellRate, IntervalPacer, SlidingWindow, SlidingWindowLimiter, SlidingWindows


def test_a_cell_rate_without_tolerance_spaces_events_evenly() -> None:
    rate = CellRate(2.0)
    due = -math.inf
    sent = []
    for now in (0.0, 0.5, 1.0, 10.0):
        at = max(now, rate.ready_at(due))
        due = rate.next_due(due, at)
        sent.append(at)
    assert sent == [0.0, 2.0, 4.0, 10.0]


def test_a_bursting_cell_rate_lets_the_whole_count_go_then_paces() -> None:
    rate = CellRate.bursting(5, 5.0)
    assert rate == CellRate(interval=1.0, tolerance=4.0)
    due = -math.inf
    sent = []
    for _ in range(8):
        at = max(100.0, rate.ready_at(due))
        due = rate.next_due(due, at)
        sent.append(at)
    assert sent == [100, 100, 100, 100, 100, 101, 102, 103]


def test_a_sliding_window_holds_until_the_oldest_event_leaves() -> None:
    window = SlidingWindow(2, 10.0)
    assert window.ready_at() == -math.inf
    assert window.fits(0.0)
    window.record(0.0)
    window.record(4.0)
    assert len(window) == 2
    assert not window.fits(4.0)
    assert window.ready_at() == 10.0
    assert window.wait(4.0) == 6.0
    assert window.fits(10.0)
    assert window.wait(10.0) == 0.0
    window.record(10.0)
    # Only the newest `limit` events count: the one at 0 has fallen out.
    assert len(window) == 2
    assert window.ready_at() == 14.0


def test_a_discarded_event_gives_its_place_back() -> None:
    window = SlidingWindow(1, 60.0)
    window.record(5.0)
    window.discard(7.0)
    assert not window.fits(6.0)
    window.discard(5.0)
    assert window.fits(6.0)
    assert len(window) == 0


def test_a_window_is_idle_once_its_newest_event_has_left() -> None:
    window = SlidingWindow(3, 1.0)
    assert window.idle_since(0.0)
    window.record(0.0)
    window.record(0.5)
    assert not window.idle_since(1.0)
    assert window.idle_since(1.5)


def test_windows_are_counted_per_key() -> None:
    windows: SlidingWindows[str] = SlidingWindows(1, 60.0)
    assert windows.wait("a", 0.0) == 0.0
    windows.record("a", 0.0)
    assert windows.wait("a", 30.0) == 30.0
    assert windows.wait("b", 30.0) == 0.0
    assert windows.wait("a", 60.0) == 0.0
    assert len(windows) == 1


def test_a_held_event_is_given_back_when_the_block_fails() -> None:
    windows: SlidingWindows[str] = SlidingWindows(1, 60.0)
    waits: list[float] = []

    def store_down() -> None:
        with windows.held("a", 0.0):
            waits.append(windows.wait("a", 0.0))
            raise RuntimeError("store down")

    with pytest.raises(RuntimeError):
        store_down()
    assert waits == [60.0]
    assert windows.wait("a", 0.0) == 0.0
    with windows.held("a", 1.0):
        pass
    assert windows.wait("a", 1.0) == 60.0


def test_idle_keys_are_forgotten_once_the_table_is_full() -> None:
    windows: SlidingWindows[int] = SlidingWindows(1, 10.0, forget_idle_at=100)
    for key in range(100):
        windows.record(key, float(key))
    assert len(windows) == 100
    windows.record(100, 100.0)
    # Keys 0 to 90 were idle at 100 s; 91 to 99 and the new one are kept.
    assert len(windows) == 10
    windows.forget_idle(1000.0)
    assert len(windows) == 0


def test_limiter_slides_and_stays_under_the_cap(fake_time: FakeTime) -> None:
    limiter = SlidingWindowLimiter.under_cap(1000, 300.0, 0.8, clock=fake_time.clock)
    assert limiter.limit == 800

    small = SlidingWindowLimiter(2, 10.0, fake_time.clock)
    assert small.try_acquire()
    fake_time.now += 4
    assert small.try_acquire()
    assert not small.try_acquire()
    assert small.retry_after() == pytest.approx(6.0)
    fake_time.now += 6
    assert small.try_acquire()  # the first request left the window
    assert not small.try_acquire()

    with pytest.raises(ValueError, match="safety"):
        SlidingWindowLimiter.under_cap(1000, 300.0, safety=1.5)


@pytest.mark.parametrize(("limit", "span"), [(0, 1.0), (1, 0.0)])
def test_nonsense_windows_are_refused(limit: int, span: float) -> None:
    with pytest.raises(ValueError, match="limit >= 1"):
        SlidingWindow(limit, span)
    with pytest.raises(ValueError, match="limit >= 1"):
        SlidingWindows[str](limit, span)
    with pytest.raises(ValueError, match="limit >= 1"):
        SlidingWindowLimiter(limit, span)


async def test_pacer_spaces_calls_and_reserves_slots(fake_time: FakeTime) -> None:
    pacer = IntervalPacer.per_minute(25, fake_time.clock, fake_time.sleep)
    waits = [await pacer.wait() for _ in range(4)]
    assert waits == pytest.approx([0.0, 2.4, 2.4, 2.4])
    fake_time.now += 10.0  # idle longer than the interval: no wait
    assert await pacer.wait() == 0.0


async def test_concurrent_callers_each_get_their_own_slot(fake_time: FakeTime) -> None:
    async def no_sleep(seconds: float) -> None:
        fake_time.sleeps.append(seconds)

    pacer = IntervalPacer(1.0, fake_time.clock, no_sleep)
    waits = await asyncio.gather(*(pacer.wait() for _ in range(3)))
    assert waits == [0.0, 1.0, 2.0]
    assert fake_time.sleeps == [1.0, 2.0]
