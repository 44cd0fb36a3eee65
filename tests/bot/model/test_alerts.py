"""Alerts as data: direction, tone, and the event detail that keeps components and notices."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.model.alerts import (
    TONE_MARKS,
    FeedNotice,
    StoredEvent,
    decode_detail,
    direction_of,
    encode_detail,
)
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


def test_tone_comes_from_the_direction_the_state_or_the_notice() -> None:
    assert event().message().tone == "rise"
    assert event(op="crosses below", value=58.0, previous=60.0).message().tone == "fall"
    assert event(op="<=", value=30.0).message().tone == "fall"
    assert event(kind="resolved").message().tone == "resolved"
    notice = FeedNotice("yahoo", AT, "HTTP 503")
    assert event(op=None, notice=notice).message().tone == "down"
    assert event(op=None, kind="resolved", notice=notice).message().tone == "back"
    # An event recorded before ops were kept falls back on the way its value moved.
    assert event(op=None, value=40.0).message().tone == "fall"
    assert set(TONE_MARKS) == {"rise", "fall", "resolved", "down", "back"}


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
