"""The fake Bot API speaks Telegram's wire format, so other tests (and the e2e) can trust it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from tests.fakes.telegram_api import FakeLimits, TelegramApiFake, parse_html


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def call(
    session: aiohttp.ClientSession, fake: TelegramApiFake, method: str, **kwargs: Any
) -> tuple[int, dict[str, Any]]:
    async with session.post(f"{fake.api_url}/bot{fake.token}/{method}", **kwargs) as response:
        return response.status, await response.json()


async def test_form_and_json_parameters_are_both_understood() -> None:
    async with TelegramApiFake() as fake, aiohttp.ClientSession() as session:
        markup = {"inline_keyboard": [[{"text": "A", "callback_data": "sub:a"}]]}
        form = {"chat_id": "5", "text": "<b>hi</b>", "parse_mode": "HTML"}
        form["reply_markup"] = json.dumps(markup)
        status_form, body_form = await call(session, fake, "sendMessage", data=form)
        status_json, body_json = await call(
            session,
            fake,
            "sendMessage",
            json={"chat_id": 5, "text": "plain", "message_thread_id": 3},
        )

    assert (status_form, status_json) == (200, 200)
    assert body_form["result"]["text"] == "hi"
    assert body_form["result"]["reply_markup"] == markup
    assert body_json["result"]["message_thread_id"] == 3
    assert [m.text for m in fake.messages(5)] == ["<b>hi</b>", "plain"]


async def test_a_newer_long_poll_ends_the_older_one_with_409() -> None:
    async with TelegramApiFake() as fake, aiohttp.ClientSession() as session:
        older = asyncio.create_task(call(session, fake, "getUpdates", json={"timeout": 30}))
        await fake.wait_until(lambda: fake.calls["getUpdates"] == 1)
        newer = asyncio.create_task(call(session, fake, "getUpdates", json={"timeout": 30}))
        status, body = await older
        fake.private_message(1, "/start")
        _, fresh = await newer

    assert status == 409
    assert body == {
        "ok": False,
        "error_code": 409,
        "description": "Conflict: terminated by other getUpdates request; "
        "make sure that only one bot instance is running",
    }
    assert fresh["result"][0]["message"]["entities"] == [
        {"offset": 0, "length": 6, "type": "bot_command"}
    ]


async def test_broken_limits_answer_429_with_retry_after() -> None:
    clock = Clock()
    fake = TelegramApiFake(limits=FakeLimits(), clock=clock)
    async with fake, aiohttp.ClientSession() as session:
        first = await call(session, fake, "sendMessage", json={"chat_id": 9, "text": "a"})
        second = await call(session, fake, "sendMessage", json={"chat_id": 9, "text": "b"})
        clock.now += 1.0
        third = await call(session, fake, "sendMessage", json={"chat_id": 9, "text": "c"})

    assert first[0] == 200
    assert second == (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 1",
            "parameters": {"retry_after": 1},
        },
    )
    assert third[0] == 200
    assert fake.too_many_requests_count() == 1


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("a < b", "Unsupported start tag at"),
        ("<b>open", "Can't find end tag"),
        ("<script>x</script>", "Unsupported start tag"),
        ("Tom & Jerry", "bare '&'"),
        ("<b><i>x</b></i>", "Unmatched end tag"),
        ("<pre><b>x</b></pre>", "inside <pre>"),
        ("x" * 4097, "message is too long"),
        ("<b> </b>", "message text is empty"),
    ],
)
async def test_html_telegram_would_refuse_is_refused(text: str, error: str) -> None:
    async with TelegramApiFake() as fake, aiohttp.ClientSession() as session:
        status, body = await call(
            session, fake, "sendMessage", json={"chat_id": 1, "text": text, "parse_mode": "HTML"}
        )

    assert status == 400
    assert error in body["description"]
    assert fake.messages(1) == []


def test_entities_and_numeric_references_parse() -> None:
    assert parse_html("&lt;&gt;&amp;&quot;&#128640;&#x1F680;") == '<>&"🚀🚀'
    assert parse_html('<a href="https://x.test/?a=1&amp;b=2">x</a>') == "x"


async def test_wrong_token_and_unknown_method() -> None:
    async with TelegramApiFake() as fake, aiohttp.ClientSession() as session:
        async with session.post(f"{fake.api_url}/bot1:wrong/getMe") as response:
            wrong = response.status, await response.json()
        unknown = await call(session, fake, "sendDice", json={"chat_id": 1})

    assert wrong == (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    assert unknown[0] == 404
