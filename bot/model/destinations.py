"""Parse and print the addresses alerts are delivered to."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

from bot.model.quiet import QuietHours

Scheme = Literal["telegram", "discord", "webhook", "console"]

_TELEGRAM = re.compile(r"^(-?[0-9]{1,20})(?:/([0-9]{1,20}))?$")
_DISCORD = re.compile(r"^[0-9]{1,25}$")


class BadDestination(ValueError):
    """An address that names no place an alert can go."""


@dataclass(frozen=True, slots=True)
class Destination:
    """Where an alert goes: `telegram:<chat>[/<topic>]`, `discord:<channel>`, `webhook:<url>`, `console`."""

    scheme: Scheme
    target: str = ""
    topic: str | None = None

    @property
    def address(self) -> str:
        if self.scheme == "console":
            return "console"
        suffix = f"/{self.topic}" if self.topic else ""
        return f"{self.scheme}:{self.target}{suffix}"

    def __str__(self) -> str:
        return self.address

    @classmethod
    def parse(cls, text: str) -> Destination:
        """Parse an address, raising `BadDestination` with what was wrong."""
        text = text.strip()
        if text == "console":
            return cls("console")
        scheme, sep, rest = text.partition(":")
        if not sep or not rest:
            raise BadDestination(
                f"{text!r} is not a destination: expected telegram:<chat id>[/<topic id>], "
                "discord:<channel id>, webhook:<url> or console"
            )
        if scheme == "telegram":
            match = _TELEGRAM.match(rest)
            if not match:
                raise BadDestination(f"{text!r}: a Telegram chat id is an integer, topic optional")
            return cls("telegram", match.group(1), match.group(2))
        if scheme == "discord":
            if not _DISCORD.match(rest):
                raise BadDestination(f"{text!r}: a Discord channel id is a number")
            return cls("discord", rest)
        if scheme == "webhook":
            url = urlsplit(rest)
            if url.scheme not in ("http", "https") or not url.netloc:
                raise BadDestination(f"{text!r}: a webhook needs an http(s) URL")
            return cls("webhook", rest)
        raise BadDestination(f"{text!r}: unknown scheme {scheme!r}")


@dataclass(frozen=True, slots=True)
class DestinationInfo:
    """A destination's subscriptions, mute, quiet hours and time zone (None: UTC)."""

    address: str
    active: bool
    muted_until: datetime | None
    rule_ids: tuple[str, ...]
    quiet: QuietHours | None = None
    time_zone: str | None = None
