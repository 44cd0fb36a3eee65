"""The wall clock every composition root defaults to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from timing import utcnow


def test_utcnow_is_timezone_aware_utc() -> None:
    before = datetime.now(UTC)
    now = utcnow()
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)
    assert now >= before
