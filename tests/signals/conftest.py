"""Fixtures for the signals tests: the fake feed server and a client session to reach it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.fakes.clock import FakeTime
from tests.fakes.feeds import FeedServer


@pytest.fixture
async def feeds() -> AsyncIterator[FeedServer]:
    async with FeedServer() as server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()
