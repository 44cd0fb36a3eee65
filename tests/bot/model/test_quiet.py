"""Time zones, quiet hours and the hold decision, read on each zone's own clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.model.formatting import format_held_headline, format_time
from bot.model.quiet import (
    BadQuietHours,
    BadZone,
    QuietHours,
    hold_reason,
    parse_quiet,
    parse_zone,
    zone_name,
    zone_or_utc,
)

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(day: int, hour: int, minute: int = 0, month: int = 1) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=BERLIN)


def test_zones_are_found_in_any_letter_case() -> None:
    assert parse_zone("europe/berlin") == BERLIN
    assert zone_name(parse_zone(" Europe/Berlin ")) == "Europe/Berlin"
    assert zone_name(parse_zone("utc")) == "UTC"
    assert zone_name(UTC) == "UTC"


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../../etc/passwd", "/etc/localtime"])
def test_unknown_zones_are_refused(name: str) -> None:
    with pytest.raises(BadZone, match="unknown time zone"):
        parse_zone(name)


def test_a_stored_zone_no_longer_known_reads_as_utc() -> None:
    assert zone_or_utc(None) is UTC
    assert zone_or_utc("Atlantis/Capital") is UTC
    assert zone_or_utc("Europe/Berlin") == BERLIN


def test_quiet_hours_across_midnight() -> None:
    quiet = parse_quiet("23:00-07:00", BERLIN)
    assert quiet == QuietHours(23 * 60, 7 * 60, "Europe/Berlin")
    assert quiet.span == "23:00-07:00"
    assert not quiet.contains(berlin(5, 22, 59))
    assert quiet.contains(berlin(5, 23, 0))
    assert quiet.contains(berlin(6, 0, 30))
    assert quiet.contains(berlin(6, 6, 59))
    assert not quiet.contains(berlin(6, 7, 0))
    assert not quiet.contains(berlin(6, 12, 0))


def test_quiet_hours_within_a_day() -> None:
    quiet = parse_quiet("9:30-17:00", BERLIN)
    assert quiet.span == "09:30-17:00"
    assert not quiet.contains(berlin(5, 9, 29))
    assert quiet.contains(berlin(5, 9, 30))
    assert not quiet.contains(berlin(5, 17, 0))


def test_quiet_hours_follow_daylight_saving() -> None:
    # 23:00 in Berlin is 22:00 UTC in winter and 21:00 UTC in summer: the window moves with it.
    quiet = parse_quiet("23:00-07:00", BERLIN)
    assert quiet.contains(datetime(2026, 1, 5, 22, 0, tzinfo=UTC))
    assert not quiet.contains(datetime(2026, 1, 5, 21, 30, tzinfo=UTC))
    assert quiet.contains(datetime(2026, 7, 5, 21, 30, tzinfo=UTC))


@pytest.mark.parametrize(
    ("span", "problem"),
    [
        ("25:00-07:00", "'25:00' is not a time of day: use 00:00 to 23:59"),
        ("23:00-07:60", "'07:60' is not a time of day: use 00:00 to 23:59"),
        ("23:00 07:00", "'23:00 07:00' has no dash between start and end"),
        ("23-07", "'23' is not a time of day HH:MM"),
        ("08:00-08:00", "quiet hours must start and end at different times"),
        ("١١:00-07:00", "'١١:00' is not a time of day HH:MM"),
    ],
)
def test_bad_quiet_hours_say_what_is_wrong(span: str, problem: str) -> None:
    with pytest.raises(BadQuietHours) as caught:
        parse_quiet(span, UTC)
    assert str(caught.value) == problem


def test_a_mute_holds_before_quiet_hours_do() -> None:
    quiet = parse_quiet("23:00-07:00", BERLIN)
    night, day = berlin(6, 1), berlin(6, 12)
    assert hold_reason(None, None, night) is None
    assert hold_reason(None, quiet, night) == "quiet"
    assert hold_reason(None, quiet, day) is None
    assert hold_reason(day + timedelta(hours=1), quiet, day) == "mute"
    assert hold_reason(night + timedelta(hours=1), quiet, night) == "mute"
    # A mute ends at its instant: the moment it runs out, alerts go out again.
    assert hold_reason(day, None, day) is None


def test_times_are_written_in_the_chat_zone_and_labelled() -> None:
    at = datetime(2026, 1, 5, 13, 5, tzinfo=UTC)
    assert format_time(at) == "2026-01-05 13:05 UTC"
    assert format_time(at, BERLIN) == "2026-01-05 14:05 CET"
    assert format_time(at + timedelta(days=180), BERLIN) == "2026-07-04 15:05 CEST"
    assert format_time(at, ZoneInfo("Asia/Kolkata")) == "2026-01-05 18:35 IST"


def test_the_summary_headline_says_why_and_how_many() -> None:
    assert format_held_headline(frozenset({"mute"}), 3) == "While muted: 3 alerts"
    assert format_held_headline(frozenset({"quiet"}), 1) == "During quiet hours: 1 alert"
    assert (
        format_held_headline(frozenset({"mute", "quiet"}), 2)
        == "While muted or in quiet hours: 2 alerts"
    )
