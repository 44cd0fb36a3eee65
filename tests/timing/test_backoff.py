"""One backoff, parametrised into each schedule the bot uses: growth, cap and jitter."""

from __future__ import annotations

from datetime import timedelta

import pytest

from timing import Backoff


def never() -> float:
    raise AssertionError("a backoff without jitter must not draw")


def test_delays_grow_by_the_factor_from_base_to_cap() -> None:
    schedule = Backoff(base=1.0, cap=60.0)
    assert [schedule.delay(n, never) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]


def test_the_factor_sets_the_growth() -> None:
    assert [Backoff(base=1.0, cap=100.0, factor=3.0).delay(n) for n in (1, 2, 3, 4, 5)] == [
        1,
        3,
        9,
        27,
        81,
    ]


def test_a_base_above_the_cap_waits_the_cap() -> None:
    # A source polled every two hours still retries within the hour.
    assert Backoff(base=7200.0, cap=3600.0).delay(1) == 3600.0


def test_no_failure_yet_waits_the_base() -> None:
    assert Backoff(base=5.0, cap=300.0).delay(0) == 5.0


def test_a_long_outage_stays_at_the_cap_instead_of_overflowing() -> None:
    assert Backoff(base=1.0, cap=60.0).delay(5000) == 60.0
    assert Backoff(base=2.0, cap=600.0, jitter=(0.5, 1.0)).delay(5000, lambda: 0.0) == 300.0


def test_jitter_spreads_the_capped_delay_over_its_range() -> None:
    schedule = Backoff(base=60.0, cap=3600.0, jitter=(0.75, 1.25))
    assert schedule.delay(1, lambda: 0.0) == 45.0
    assert schedule.delay(1, lambda: 0.5) == 60.0
    assert schedule.delay(1, lambda: 0.999) == pytest.approx(74.97)
    # The cap bounds the delay before jitter, so a capped wait still varies.
    assert schedule.delay(20, lambda: 0.0) == 2700.0
    assert schedule.delay(20, lambda: 1.0) == 4500.0


def test_source_polling_schedule_doubles_the_interval() -> None:
    # bot.watch.pollers: the poll interval, doubling, at most an hour, jittered by +-25 %.
    schedule = Backoff(base=60.0, cap=3600.0, jitter=(0.75, 1.25))
    assert [schedule.delay(n, lambda: 0.5) for n in (1, 2, 3, 4)] == [60, 120, 240, 480]


@pytest.mark.parametrize("attempts", [0, 1, 5, 30])
def test_delivery_schedule_is_bounded_and_jittered(attempts: int) -> None:
    # bot.delivery.dispatcher: 2 s doubling to 10 min, jittered down to half.
    schedule = Backoff(base=2.0, cap=600.0, jitter=(0.5, 1.0))
    low = timedelta(seconds=schedule.delay(attempts + 1, lambda: 0.0))
    high = timedelta(seconds=schedule.delay(attempts + 1, lambda: 1.0))
    assert timedelta(seconds=1) <= low < high <= timedelta(seconds=600)


def test_front_end_start_schedule_doubles_from_five_seconds_to_five_minutes() -> None:
    # bot.app starts a front-end again after 5, 10, 20 ... s, at most 300 s apart.
    schedule = Backoff(base=5.0, cap=300.0)
    assert [schedule.delay(n) for n in range(1, 9)] == [5, 10, 20, 40, 80, 160, 300, 300]


@pytest.mark.parametrize(
    "config",
    [
        {"base": 0.0, "cap": 1.0},
        {"base": 1.0, "cap": 0.0},
        {"base": 1.0, "cap": 2.0, "factor": 0.5},
        {"base": 1.0, "cap": 2.0, "jitter": (1.5, 0.5)},
        {"base": 1.0, "cap": 2.0, "jitter": (-0.5, 1.0)},
    ],
)
def test_nonsense_schedules_are_refused(config: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="backoff needs"):
        Backoff(**config)  # type: ignore[arg-type]
