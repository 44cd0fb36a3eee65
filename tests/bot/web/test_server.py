"""The HTTP server as a client meets it: slow and idle connections, the bind address, a taken port."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from bot.web.health import CannotListen, build_app, start_server
from bot.web.ingest import IngestConfig, add_ingest_routes
from signals.types import Sample
from tests.bot.conftest import FakeClock
from tests.bot.web.test_ingest import METRICS, TOKEN, HealthyStore

# Generous: only a server that never closes the connection fails the test.
_GUARD = 30.0


class Kept:
    def __init__(self) -> None:
        self.samples: list[Sample] = []

    async def __call__(self, sample: Sample) -> None:
        self.samples.append(sample)


@pytest.fixture
def kept() -> Kept:
    return Kept()


@pytest.fixture
async def server(clock: FakeClock, kept: Kept) -> AsyncIterator[int]:
    app = build_app(HealthyStore(), list, clock)  # type: ignore[arg-type]
    add_ingest_routes(app, IngestConfig(TOKEN, METRICS, 6), kept, clock, body_timeout=0.5)
    runner = await start_server(app, 0, "127.0.0.1", idle_timeout=0.5)
    port: int = runner.addresses[0][1]
    yield port
    await runner.cleanup()


async def read_to_end(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.read(), _GUARD)


async def test_a_body_trickled_too_slowly_is_cut_off_with_408(server: int, kept: Kept) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    writer.write(
        b"POST /ingest/others_d HTTP/1.1\r\nHost: radar\r\n"
        b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        b'{"value": '
    )
    await writer.drain()
    answer = await read_to_end(reader)
    writer.close()

    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b'"error": "body not received within 0.5 s"' in answer
    assert b"Connection: close" in answer
    assert kept.samples == []


async def test_an_idle_connection_and_one_trickling_its_headers_are_closed(server: int) -> None:
    idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", server)
    slow_reader, slow_writer = await asyncio.open_connection("127.0.0.1", server)
    slow_writer.write(b"GET /healthz HTTP/1.1\r\nHost: radar\r\n")
    await slow_writer.drain()

    assert await read_to_end(idle_reader) == b""
    assert await read_to_end(slow_reader) == b""
    idle_writer.close()
    slow_writer.close()


async def test_a_prompt_request_is_still_answered(server: int, kept: Kept) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    body = b'{"value": 8.5}'
    writer.write(
        b"POST /ingest/others_d HTTP/1.1\r\nHost: radar\r\nConnection: close\r\n"
        b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    answer = await read_to_end(reader)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 202 ")
    assert [s.value for s in kept.samples] == [8.5]


async def test_a_taken_port_is_one_line_naming_host_and_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(CannotListen) as caught:
            await start_server(web.Application(), port, "127.0.0.1")
    assert str(caught.value) == (
        f"PORT {port} is already in use on 127.0.0.1: Address already in use; "
        "stop the other server or set PORT"
    )
