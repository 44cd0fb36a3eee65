"""Destination addresses: parse and print round trips, and what is refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.model.destinations import BadDestination, Destination


@pytest.mark.parametrize(
    ("text", "scheme", "target", "topic"),
    [
        ("telegram:123456789", "telegram", "123456789", None),
        ("telegram:-1001234567890", "telegram", "-1001234567890", None),
        ("telegram:-1001234567890/42", "telegram", "-1001234567890", "42"),
        ("telegram:-4001/1", "telegram", "-4001", "1"),
        ("discord:123456789012345678", "discord", "123456789012345678", None),
        (
            "webhook:https://hooks.example.com/radar",
            "webhook",
            "https://hooks.example.com/radar",
            None,
        ),
        (
            "webhook:http://127.0.0.1:8080/in?token=a:b&x=1#frag",
            "webhook",
            "http://127.0.0.1:8080/in?token=a:b&x=1#frag",
            None,
        ),
        ("console", "console", "", None),
    ],
)
def test_parse_and_print_round_trip(text: str, scheme: str, target: str, topic: str | None) -> None:
    destination = Destination.parse(text)
    assert (destination.scheme, destination.target, destination.topic) == (scheme, target, topic)
    assert destination.address == text
    assert str(destination) == text
    assert Destination.parse(destination.address) == destination


def test_surrounding_whitespace_is_ignored() -> None:
    assert Destination.parse("  telegram:-5/7\n") == Destination("telegram", "-5", "7")
    assert Destination.parse("\tconsole ") == Destination("console")


def test_printing_built_destinations() -> None:
    assert Destination("telegram", "-100", "7").address == "telegram:-100/7"
    assert Destination("telegram", "-100").address == "telegram:-100"
    assert Destination("discord", "9").address == "discord:9"
    assert Destination("console").address == "console"


@given(
    st.integers(-(10**19) + 1, 10**20 - 1),
    st.one_of(st.none(), st.integers(0, 10**20 - 1)),
)
def test_telegram_round_trip(chat: int, topic: int | None) -> None:
    destination = Destination("telegram", str(chat), None if topic is None else str(topic))
    parsed = Destination.parse(destination.address)
    assert parsed == destination
    assert parsed.address == destination.address


@given(st.integers(0, 10**25 - 1))
def test_discord_round_trip(channel: int) -> None:
    destination = Destination("discord", str(channel))
    assert Destination.parse(destination.address) == destination


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("", "is not a destination"),
        ("   ", "is not a destination"),
        ("telegram", "is not a destination"),
        ("telegram:", "is not a destination"),
        ("123", "is not a destination"),
        ("telegram:abc", "a Telegram chat id is an integer"),
        ("telegram:1.5", "a Telegram chat id is an integer"),
        ("telegram:--1", "a Telegram chat id is an integer"),
        ("telegram:+1", "a Telegram chat id is an integer"),
        ("telegram:12/", "a Telegram chat id is an integer"),
        ("telegram:12/abc", "a Telegram chat id is an integer"),
        ("telegram:12/-3", "a Telegram chat id is an integer"),
        ("telegram:12/3/4", "a Telegram chat id is an integer"),
        ("telegram: 12", "a Telegram chat id is an integer"),
        ("telegram:123456789012345678901", "a Telegram chat id is an integer"),
        ("discord:-5", "a Discord channel id is a number"),
        ("discord:general", "a Discord channel id is a number"),
        ("discord:12/3", "a Discord channel id is a number"),
        ("discord:" + "1" * 26, "a Discord channel id is a number"),
        ("webhook:ftp://files.example/h", "a webhook needs an http(s) URL"),
        ("webhook:hooks.example.com/radar", "a webhook needs an http(s) URL"),
        ("webhook:http://", "a webhook needs an http(s) URL"),
        ("webhook:https:///path", "a webhook needs an http(s) URL"),
        ("slack:123", "unknown scheme 'slack'"),
        ("Telegram:123", "unknown scheme 'Telegram'"),
        ("console:1", "unknown scheme 'console'"),
    ],
)
def test_rejections_say_what_was_wrong(text: str, complaint: str) -> None:
    with pytest.raises(BadDestination) as caught:
        Destination.parse(text)
    message = str(caught.value)
    assert complaint in message
    assert repr(text.strip()) in message
    assert isinstance(caught.value, ValueError)


def test_the_generic_rejection_lists_every_form() -> None:
    with pytest.raises(BadDestination) as caught:
        Destination.parse("nowhere")
    for form in ("telegram:<chat id>[/<topic id>]", "discord:<channel id>", "webhook:<url>"):
        assert form in str(caught.value)
    assert "console" in str(caught.value)


@pytest.mark.parametrize("text", ["telegram:١٢٣", "telegram:-100/٤", "discord:१२३"])
def test_only_ascii_digits_make_an_id(text: str) -> None:
    with pytest.raises(BadDestination):
        Destination.parse(text)
