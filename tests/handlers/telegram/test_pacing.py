"""The pacer keeps every send inside Telegram's limits, in virtual time."""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from telegram.error import RetryAfter

from handlers.telegram.pacing import FloodLimits, FloodSchedule, Pacer, Rate
from tests.handlers.telegram.virtual_time import VirtualTime

LIMITS = FloodLimits()
OVERALL_GAP = 1 / 30 * 1.03
CHAT_GAP = 1.0 * 1.03
GROUP_WINDOW = 60.0 * 1.03


class Recorder:
    """A stand-in for the HTTP call: notes when each message went out."""

    def __init__(self, clock: VirtualTime, fail: dict[str, list[int]] | None = None) -> None:
        self.clock = clock
        self.sent: list[tuple[float, str, int]] = []
        self.refused: list[float] = []
        self.fail = fail or {}

    def call(self, chat: str, seq: int) -> Any:
        async def callback() -> bool:
            pending = self.fail.get(chat)
            if pending:
                self.refused.append(self.clock())
                raise RetryAfter(pending.pop(0))
            self.sent.append((self.clock(), chat, seq))
            return True

        return callback


async def send_all(
    pacer: Pacer, recorder: Recorder, chat: str, count: int, retries: int = 0
) -> None:
    for seq in range(count):
        await pacer.process_request(
            recorder.call(chat, seq), (), {}, "sendMessage", {"chat_id": chat}, retries
        )


def check_limits(sent: list[tuple[float, str, int]]) -> None:
    """Fail unless `sent` keeps the overall, per-chat and per-group limits and per-chat order."""
    times = sorted(at for at, _, _ in sent)
    for earlier, later in itertools.pairwise(times):
        assert later - earlier >= OVERALL_GAP - 1e-9
    per_chat: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for at, chat, seq in sent:
        per_chat[chat].append((at, seq))
    for chat, items in per_chat.items():
        assert [seq for _, seq in items] == list(range(len(items)))
        stamps = [at for at, _ in items]
        for earlier, later in itertools.pairwise(stamps):
            assert later - earlier >= CHAT_GAP - 1e-9
        if chat.startswith("-"):
            for i in range(len(stamps) - 20):
                assert stamps[i + 20] - stamps[i] >= GROUP_WINDOW - 1e-9


def test_schedule_spreads_the_overall_rate_evenly() -> None:
    schedule = FloodSchedule(LIMITS)

    slots = [schedule.claim_overall(0.0) for _ in range(31)]

    assert slots[0] == 0.0
    assert slots[30] == pytest.approx(30 * OVERALL_GAP)


def test_schedule_holds_a_chat_for_a_second_and_a_group_for_its_minute() -> None:
    schedule = FloodSchedule(LIMITS)
    for second in range(20):
        ready = schedule.chat_ready_at("-5", is_group=True)
        assert ready == (pytest.approx(second * CHAT_GAP) if second else 0.0)
        schedule.record("-5", True, second * CHAT_GAP)

    assert schedule.chat_ready_at("-5", is_group=True) == pytest.approx(GROUP_WINDOW)
    assert schedule.chat_ready_at("7", is_group=False) == 0.0


def test_schedule_pause_pushes_every_slot_back() -> None:
    schedule = FloodSchedule(LIMITS)
    schedule.pause(10.0, 3.0)

    assert schedule.claim_overall(10.5) == 13.0


def test_schedule_forgets_idle_chats() -> None:
    schedule = FloodSchedule(LIMITS)
    for chat in range(8192):
        schedule.record(str(chat), False, chat * OVERALL_GAP)

    assert schedule.tracked_chats() < 100


def send_late(lateness: list[float]) -> list[float]:
    """Send one message after another, each timer firing `lateness[i]` seconds late."""
    schedule = FloodSchedule(LIMITS)
    sent: list[float] = []
    now = 0.0
    for index, late in enumerate(lateness):
        now = max(now, schedule.overall_ready_at()) + late
        schedule.record(str(index), False, now)
        sent.append(now)
    return sent


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=0.05), min_size=31, max_size=300))
def test_late_timers_never_squeeze_31_messages_into_a_second(lateness: list[float]) -> None:
    sent = send_late(lateness)

    for first, last in zip(sent, sent[30:], strict=False):
        assert last - first > LIMITS.overall.seconds


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=OVERALL_GAP / 4), min_size=2, max_size=300))
def test_a_timer_a_little_late_costs_no_throughput(lateness: list[float]) -> None:
    sent = send_late(lateness)

    assert sent[-1] <= lateness[0] + (len(sent) - 1) * OVERALL_GAP + 1e-9


def test_rates_must_be_positive() -> None:
    with pytest.raises(ValueError, match="count >= 1"):
        Rate(0, 1.0)


async def test_fan_out_keeps_the_overall_rate_and_finishes_at_it() -> None:
    clock = VirtualTime()
    pacer = Pacer(LIMITS, clock=clock, sleep=clock.sleep)
    recorder = Recorder(clock)

    await clock.run(*(send_all(pacer, recorder, str(chat), 1) for chat in range(1, 301)))

    check_limits(recorder.sent)
    assert len(recorder.sent) == 300
    assert clock.now == pytest.approx(299 * OVERALL_GAP)
    assert pacer.open_gates() == 0


async def test_a_busy_group_does_not_hold_up_other_chats() -> None:
    clock = VirtualTime()
    pacer = Pacer(LIMITS, clock=clock, sleep=clock.sleep)
    recorder = Recorder(clock)

    await clock.run(
        send_all(pacer, recorder, "-100", 25),
        *(send_all(pacer, recorder, str(chat), 2) for chat in range(1, 51)),
    )

    check_limits(recorder.sent)
    private = [at for at, chat, _ in recorder.sent if not chat.startswith("-")]
    assert max(private) < 2 * CHAT_GAP + 100 * OVERALL_GAP
    group = [at for at, chat, _ in recorder.sent if chat == "-100"]
    assert len(group) == 25
    assert group[20] >= GROUP_WINDOW


async def test_flood_control_pauses_everyone_and_the_429_is_raised() -> None:
    clock = VirtualTime()
    pacer = Pacer(LIMITS, clock=clock, sleep=clock.sleep)
    recorder = Recorder(clock, fail={"5": [3]})

    async def blocked() -> None:
        with pytest.raises(RetryAfter):
            await send_all(pacer, recorder, "5", 1)

    await clock.run(blocked(), *(send_all(pacer, recorder, str(c), 1) for c in range(10, 40)))

    check_limits(recorder.sent)
    assert len(recorder.sent) == 30
    [refused_at] = recorder.refused
    after = [at for at, _, _ in recorder.sent if at >= refused_at]
    assert after
    assert min(after) >= refused_at + 3


async def test_retries_after_flood_control_when_asked_to() -> None:
    clock = VirtualTime()
    pacer = Pacer(LIMITS, clock=clock, sleep=clock.sleep)
    recorder = Recorder(clock, fail={"5": [2, 2]})

    await clock.run(send_all(pacer, recorder, "5", 1, retries=2))

    assert recorder.sent == [(4.0, "5", 0)]


async def test_reads_and_answers_are_not_paced() -> None:
    clock = VirtualTime()
    pacer = Pacer(LIMITS, clock=clock, sleep=clock.sleep)
    calls = 0

    async def callback() -> bool:
        nonlocal calls
        calls += 1
        return True

    async def many() -> None:
        for _ in range(100):
            await pacer.process_request(
                callback, (), {}, "getChatAdministrators", {"chat_id": -5}, None
            )
            await pacer.process_request(
                callback, (), {}, "answerCallbackQuery", {"callback_query_id": "1"}, None
            )

    await clock.run(many())

    assert calls == 200
    assert clock.now == 0.0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(["1", "2", "3", "-10", "-20", "@news"]), st.integers(1, 30)),
        min_size=1,
        max_size=8,
    )
)
async def test_any_mix_of_chats_stays_within_every_limit(plan: list[tuple[str, int]]) -> None:
    clock = VirtualTime()
    pacer = Pacer(LIMITS, clock=clock, sleep=clock.sleep)
    recorder = Recorder(clock)
    counts: dict[str, int] = defaultdict(int)
    for chat, count in plan:
        counts[chat] += count

    await clock.run(*(send_all(pacer, recorder, chat, n) for chat, n in counts.items()), limit=30)

    assert len(recorder.sent) == sum(counts.values())
    check_limits([(at, "-" + c[1:] if c.startswith("@") else c, s) for at, c, s in recorder.sent])
