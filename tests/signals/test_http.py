"""The HTTP boundary: every way a provider can answer badly becomes one typed error."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import aiohttp
import pytest

from signals.http import FeedClient, HttpRefused, retry_after_seconds
from signals.payload import Payload
from signals.types import BadPayload, RateLimited, SourceUnavailable
from tests.fakes.feeds import FeedServer, Reply

PATH = "/api/v3/global"


def client(feeds: FeedServer, session: aiohttp.ClientSession, timeout: float = 5.0) -> FeedClient:
    return FeedClient(session, "coingecko", feeds.coingecko_url, timeout=timeout)


async def test_json_body_comes_back_decoded(
    feeds: FeedServer, session: aiohttp.ClientSession
) -> None:
    feeds.queue(PATH, Reply(body={"data": {"markets": 713}}))
    assert await client(feeds, session).get_json("/global") == {"data": {"markets": 713}}


async def test_429_with_seconds_becomes_rate_limited(
    feeds: FeedServer, session: aiohttp.ClientSession
) -> None:
    feeds.queue(PATH, Reply(429, {"status": {"error_code": 429}}, headers={"Retry-After": "30"}))
    with pytest.raises(RateLimited) as caught:
        await client(feeds, session).get_json("/global")
    assert caught.value.retry_after == 30.0


async def test_429_with_http_date_is_relative_to_the_server_clock(
    feeds: FeedServer, session: aiohttp.ClientSession
) -> None:
    headers = {
        "Retry-After": "Wed, 21 Oct 2015 07:28:45 GMT",
        "Date": "Wed, 21 Oct 2015 07:28:00 GMT",
    }
    feeds.queue(PATH, Reply(429, {}, headers=headers))
    with pytest.raises(RateLimited) as caught:
        await client(feeds, session).get_json("/global")
    assert caught.value.retry_after == 45.0


async def test_429_without_retry_after_has_no_hint(
    feeds: FeedServer, session: aiohttp.ClientSession
) -> None:
    feeds.queue(PATH, Reply(429, {}))
    with pytest.raises(RateLimited) as caught:
        await client(feeds, session).get_json("/global")
    assert caught.value.retry_after is None


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_is_unavailable(
    feeds: FeedServer, session: aiohttp.ClientSession, status: int
) -> None:
    feeds.queue(PATH, Reply(status, {"error": "upstream"}))
    with pytest.raises(SourceUnavailable, match=f"HTTP {status}"):
        await client(feeds, session).get_json("/global")


async def test_404_is_a_refusal_with_its_status(
    feeds: FeedServer, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(HttpRefused) as caught:
        await client(feeds, session).get_json("/coins/nope/market_chart")
    assert caught.value.status == 404
    assert caught.value.path == "/coins/nope/market_chart"


async def test_html_page_with_200_is_a_bad_payload_naming_the_body(
    feeds: FeedServer, session: aiohttp.ClientSession
) -> None:
    page = b"<!DOCTYPE html><html><head><title>Just a moment...</title></head></html>"
    feeds.queue(PATH, Reply(raw=page, content_type="text/html"))
    with pytest.raises(BadPayload) as caught:
        await client(feeds, session).get_json("/global")
    assert caught.value.field_name == "body"
    assert "text/html" in caught.value.problem
    assert "Just a moment" in caught.value.problem


async def test_body_cut_short_by_the_connection_is_a_bad_payload(
    feeds: FeedServer, session: aiohttp.ClientSession
) -> None:
    feeds.queue(PATH, Reply(body={"data": {"markets": 713, "pad": "x" * 500}}, truncate=20))
    with pytest.raises(BadPayload) as caught:
        await client(feeds, session).get_json("/global")
    assert caught.value.field_name == "body"


async def test_complete_but_truncated_json_is_a_bad_payload(
    feeds: FeedServer, session: aiohttp.ClientSession
) -> None:
    feeds.queue(PATH, Reply(raw=b'{"data": {"markets": 71'))
    with pytest.raises(BadPayload, match="not JSON"):
        await client(feeds, session).get_json("/global")


async def test_no_answer_within_the_timeout_is_unavailable(
    feeds: FeedServer, session: aiohttp.ClientSession
) -> None:
    feeds.queue(PATH, Reply(hang=True))
    with pytest.raises(SourceUnavailable, match=r"within 0\.05 s"):
        await client(feeds, session, timeout=0.05).get_json("/global")


async def test_refused_connection_is_unavailable(session: aiohttp.ClientSession) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dead = FeedClient(session, "coingecko", f"http://127.0.0.1:{port}")
    with pytest.raises(SourceUnavailable, match="ClientConnectorError"):
        await dead.get_json("/global")


async def test_headers_and_query_reach_the_provider(
    feeds: FeedServer, session: aiohttp.ClientSession
) -> None:
    feeds.queue(PATH, Reply(body={}))
    feed = FeedClient(session, "coingecko", feeds.coingecko_url, headers={"x-cg-demo-api-key": "k"})
    await feed.get_json("/global", {"vs_currency": "usd", "per_page": 250})
    seen = feeds.seen[-1]
    assert seen.headers["x-cg-demo-api-key"] == "k"
    assert seen.query == {"vs_currency": "usd", "per_page": "250"}


def test_retry_after_forms() -> None:
    now = datetime(2015, 10, 21, 7, 28, tzinfo=UTC)
    assert retry_after_seconds("120", now) == 120.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:30:00 GMT", now) == 120.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:00:00 GMT", now) == 0.0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None


def test_payload_errors_name_the_field() -> None:
    body = Payload("coingecko", {"data": {"shares": {"btc": None, "eth": 0}, "list": [1, "x"]}})
    with pytest.raises(BadPayload) as caught:
        body["data"]["shares"]["btc"].number()
    assert caught.value.field_name == "data.shares.btc"
    assert caught.value.problem == "expected a number, got null"
    with pytest.raises(BadPayload, match="expected a positive number, got 0"):
        body["data"]["shares"]["eth"].positive()
    with pytest.raises(BadPayload) as missing:
        body["data"]["total"]
    assert missing.value.field_name == "data.total"
    items = list(body["data"]["list"].items())
    assert items[1].where == "data.list[1]"
    with pytest.raises(BadPayload, match="expected a number, got str"):
        items[1].number()
