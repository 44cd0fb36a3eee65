"""`/chart` on Telegram: a real PNG reaches the Bot API as sendPhoto, with its caption."""

from __future__ import annotations

from datetime import timedelta

from handlers.telegram.render import caption_fits
from signals.types import Sample
from tests.bot.charts.test_render import png_size
from tests.handlers.telegram.conftest import Env

USER = 4242


async def _asi_history(env: Env) -> None:
    values = [40, 44, 48, 53, 58, 61, 57, 49, 45, 52]
    first = env.wall.now - timedelta(days=len(values) - 1)
    for n, value in enumerate(values):
        env.wall.now = first + timedelta(days=n)
        await env.engine.ingest_sample(Sample("asi", value, env.wall.now, "coingecko"))


async def test_chart_sends_a_photo_with_the_rules_and_alerts_in_its_caption(running: Env) -> None:
    await _asi_history(running)
    running.fake.private_message(USER, "/alert asi > 60")
    await running.fake.wait_for_messages(USER, 1)
    running.fake.private_message(USER, "/chart asi 30")

    reply = (await running.fake.wait_for_messages(USER, 2))[1]

    assert reply.photo is not None and reply.photo.uploaded
    assert png_size(reply.photo.data) == (reply.photo.width, reply.photo.height) == (1280, 720)
    assert reply.parse_mode == "HTML"
    lines = reply.plain.splitlines()
    assert lines[0] == "📊 Altcoin Season Index: 52"
    assert lines[1] == "Last 30 days to 2026-01-05 12:00 UTC · source coingecko"
    assert lines[2] == (
        "Rules drawn: asi-above-50, altseason, bitcoin-season, c1 · 2 alerts fired, 1 resolved"
    )
    assert running.fake.calls["sendPhoto"] == 1


async def test_chart_without_data_or_with_bad_input_is_one_line(running: Env) -> None:
    for text in ("/chart", "/chart nope", "/chart asi 0", "/chart asi ٣", "/chart asi"):
        running.fake.private_message(USER, text)
    replies = await running.fake.wait_for_messages(USER, 5)

    assert [r.plain for r in replies] == [
        "usage: /chart <metric> [days], e.g. /chart asi 90",
        replies[1].plain,
        "usage: /chart <metric> [days], days from 1 to 400, e.g. /chart asi 90",
        replies[3].plain,
        "No asi values stored in the last 90 days: nothing to draw yet.",
    ]
    assert replies[1].plain.startswith("unknown metric 'nope': try one of asi, ")
    assert "is not an ASCII digit" in replies[3].plain
    assert all(r.photo is None and len(r.plain.splitlines()) == 1 for r in replies)
    assert running.fake.calls["sendPhoto"] == 0


def test_a_caption_is_measured_as_telegram_counts_it() -> None:
    assert caption_fits("<b>" + "x" * 1024 + "</b>")
    assert not caption_fits("x" * 1025)
    assert caption_fits("&lt;" * 1024)
