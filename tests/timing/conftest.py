"""Fixtures for the timing tests: a monotonic clock that moves only when told or slept on."""

from __future__ import annotations

import pytest

from tests.fakes.clock import FakeTime


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()
