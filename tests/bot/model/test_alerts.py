"""Alerts as data: direction, tone, and the event detail that keeps components and notices."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.model.alerts import (
    TONE_COLOURS,
    TONE_MARKS,
    FeedNotice,
    StoredEvent,
    decode_detail,
    direction_of,
    encode_detail,
)
from bot.model.metrics import register_pushed
from bot.model.regime import Reading

AT = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def event(**changes: object) -> StoredEvent:
    fields: dict[str, object] = {
        "id": 1,
        "rule_id": "asi-above-50",
        "kind": "firing",
        "metric": "asi",
        "value": 55.0,
        "previous": 48.0,
        "threshold": 50.0,
        "source": "coingecko",
        "at": AT,
        "description": "Altcoin Season Index rises above 50",
        "op": "crosses above",
    }
    fields.update(changes)
    return StoredEvent(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("op", "direction"),
    [(">", "rise"), (">=", "rise"), ("crosses above", "rise"), ("new high", "rise"),
     ("<", "fall"), ("<=", "fall"), ("crosses below", "fall"), (None, None)],
)  # fmt: skip
def test_direction_follows_the_rules_op(op: object, direction: object) -> None:
    assert direction_of(op) == direction  # type: ignore[arg-type]


def test_tone_is_what_the_move_means_for_the_thesis() -> None:
    # The ASI rising is risk-on, falling risk-off; the rule's op decides, not the last tick.
    assert event().message().tone == "risk-on"
    assert event(op="crosses below", value=58.0, previous=60.0).message().tone == "risk-off"
    assert event(op="<=", value=30.0).message().tone == "risk-off"
    # The end of a risk-on signal is a move toward risk-off, and the other way round.
    assert event(kind="resolved").message().tone == "risk-off"
    assert event(kind="resolved", op="<=", value=30.0).message().tone == "risk-on"
    # Bitcoin dominance falling is the rotation: risk-on.
    dominance = event(metric="btc_dominance", op="crosses below", value=58.7, previous=59.1)
    assert dominance.message().tone == "risk-on"
    assert TONE_MARKS[dominance.message().tone] == "🟢"
    notice = FeedNotice("yahoo", AT, "HTTP 503")
    assert event(op=None, notice=notice).message().tone == "down"
    assert event(op=None, kind="resolved", notice=notice).message().tone == "back"
    # An event recorded before ops were kept falls back on the way its value moved.
    assert event(op=None, value=40.0).message().tone == "risk-off"
    # A resolution the value fell into ends a rule that fired on a rise, and the other way.
    assert event(op=None, kind="resolved", value=40.0).message().tone == "risk-off"
    assert event(op=None, kind="resolved", value=60.0).message().tone == "risk-on"
    assert set(TONE_MARKS) == set(TONE_COLOURS)


def test_a_metric_without_a_known_meaning_is_neutral() -> None:
    register_pushed(["others_d"])
    firing = event(metric="others_d", op=">", value=9.0, previous=8.0).message()
    assert (firing.lean, firing.tone, firing.mark) == (None, "alert", "🔵")
    resolved = event(metric="others_d", op=">", kind="resolved", value=7.0).message()
    assert (resolved.lean, resolved.tone, resolved.mark) == (None, "resolved", "⚪")
    # A metric no longer listed anywhere reads the same.
    assert event(metric="gone_metric").message().tone == "alert"


def test_detail_round_trips_components_and_notices() -> None:
    readings = (
        Reading("asi", "Altcoin Season Index above 50", "yes", "ASI 55"),
        Reading("eth_btc", "ETH/BTC above its 50-day average", "unknown", "no fresh value"),
    )
    notice = FeedNotice("coingecko", AT, "HTTP 503")
    assert decode_detail(encode_detail(readings, None)) == (readings, None)
    assert decode_detail(encode_detail((), notice)) == ((), notice)
    assert encode_detail((), None) is None


def test_malformed_detail_is_left_out() -> None:
    assert decode_detail(None) == ((), None)
    assert decode_detail({"components": [{"verdict": "yes"}, "x"], "notice": {"feed": 3}}) == (
        (),
        None,
    )
    ((reading,), _) = decode_detail({"components": [{"key": "asi", "verdict": "maybe"}]})
    assert (reading.label, reading.verdict, reading.note) == (
        "Altcoin Season Index above 50",
        "unknown",
        "",
    )
