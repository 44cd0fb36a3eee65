"""A chat's time zone and quiet hours, and whether its alerts are held at a given moment."""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import cache
from typing import Literal

# Why an alert was held rather than sent: the chat was muted, or inside its quiet hours.
HoldReason = Literal["mute", "quiet"]

_CLOCK = re.compile(r"^([0-9]{1,2}):([0-9]{2})$")


class BadZone(ValueError):
    """A name that is no IANA time zone this installation knows."""


class BadQuietHours(ValueError):
    """Quiet hours written in a way that cannot be read."""


@cache
def _zone_keys() -> dict[str, str]:
    """Return every known IANA key by its lower-case spelling (users rarely type the case right)."""
    return {key.lower(): key for key in zoneinfo.available_timezones()}


def known_zones() -> list[str]:
    """Return every IANA zone name this installation knows, sorted."""
    return sorted(_zone_keys().values())


def parse_zone(name: str) -> zoneinfo.ZoneInfo:
    """Return the IANA zone `name` (any letter case), or raise `BadZone`."""
    text = name.strip()
    # Looked up in the list first: ZoneInfo itself would open any path-like key it is given.
    key = _zone_keys().get(text.lower())
    if key is None:
        raise BadZone(f"unknown time zone {text[:40]!r}: use an IANA name such as Europe/Berlin")
    return zoneinfo.ZoneInfo(key)


def zone_or_utc(name: str | None) -> tzinfo:
    """Return the stored zone `name`, or UTC when none is set (or it is no longer known)."""
    if name is None:
        return UTC
    try:
        return parse_zone(name)
    except BadZone:
        return UTC


def zone_name(zone: tzinfo) -> str:
    """Return the name a user would type for `zone`: its IANA key, or `UTC`."""
    return zone.key if isinstance(zone, zoneinfo.ZoneInfo) else "UTC"


def _minutes(text: str) -> int:
    match = _CLOCK.match(text.strip())
    if match is None:
        raise BadQuietHours(f"{text.strip()[:20]!r} is not a time of day HH:MM")
    hours, minutes = int(match.group(1)), int(match.group(2))
    if hours > 23 or minutes > 59:
        raise BadQuietHours(f"{text.strip()[:20]!r} is not a time of day: use 00:00 to 23:59")
    return hours * 60 + minutes


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily window, in minutes after local midnight in `zone`; `end` before `start` spans midnight."""

    start: int
    end: int
    zone: str

    @property
    def span(self) -> str:
        """Return the window as a user writes it: `23:00-07:00`."""
        return f"{_clock(self.start)}-{_clock(self.end)}"

    @property
    def tz(self) -> tzinfo:
        return zone_or_utc(self.zone)

    def contains(self, at: datetime) -> bool:
        """Return True when `at` falls inside the window, read on the zone's local clock."""
        local = at.astimezone(self.tz)
        minute = local.hour * 60 + local.minute
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end


def parse_quiet(span: str, zone: tzinfo) -> QuietHours:
    """Parse `23:00-07:00` in `zone`, or raise `BadQuietHours`."""
    start, dash, end = span.partition("-")
    if not dash:
        raise BadQuietHours(f"{span[:20]!r} has no dash between start and end")
    quiet = QuietHours(_minutes(start), _minutes(end), zone_name(zone))
    if quiet.start == quiet.end:
        raise BadQuietHours("quiet hours must start and end at different times")
    return quiet


def hold_reason(
    muted_until: datetime | None, quiet: QuietHours | None, now: datetime
) -> HoldReason | None:
    """Return why a chat's alerts are held at `now`, or None when they go out."""
    if muted_until is not None and muted_until > now:
        return "mute"
    if quiet is not None and quiet.contains(now):
        return "quiet"
    return None
