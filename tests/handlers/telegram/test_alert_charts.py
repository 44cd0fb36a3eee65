"""Alerts with their chart through the real python-telegram-bot to the fake Bot API."""

from __future__ import annotations

import struct
import zlib
from collections.abc import AsyncIterator

import pytest

from bot.model.alerts import AlertMessage, FeedNotice, HeldSummary
from bot.model.delivery import AlertChart
from bot.model.regime import Reading
from handlers.telegram.pacing import FloodLimits
from handlers.telegram.render import caption_fits, render_alert
from tests.fakes.telegram_api import FakeLimits, TelegramApiFake, blocked_by_user
from tests.handlers.telegram.test_notifier import Wired, alert, to
from tests.handlers.telegram.virtual_time import VirtualTime


def png(width: int, height: int) -> bytes:
    """Return a valid grey PNG of this size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


IMAGE = AlertChart(png(64, 36), 64, 36)


class Charts:
    """A chart source that hands out IMAGE (or None) and counts the asks."""

    def __init__(self, image: AlertChart | None = IMAGE) -> None:
        self.image_ = image
        self.asks: list[int] = []

    async def image(self, message: AlertMessage) -> AlertChart | None:
        self.asks.append(message.event_id)
        return None if message.notice is not None else self.image_


@pytest.fixture
async def wired(clock: VirtualTime) -> AsyncIterator[Wired]:
    async with TelegramApiFake(limits=FakeLimits(), clock=clock) as fake:
        parts = Wired(fake, clock, FloodLimits())
        await parts.bot.initialize()
        parts.notifier.set_online(True)
        parts.notifier.use_charts(Charts())
        yield parts
        await parts.bot.shutdown()


@pytest.fixture
def clock() -> VirtualTime:
    return VirtualTime()


def uploads(fake: TelegramApiFake) -> int:
    return sum(1 for m in fake.sent if m.photo is not None and m.photo.uploaded)


def long_alert(event_id: int) -> AlertMessage:
    notes = tuple(
        Reading(f"k{i}", f"Component {i}", "yes", "a long note about this component " * 3)
        for i in range(12)
    )
    return AlertMessage(**{**_fields(alert(event_id)), "components": notes})


def _fields(message: AlertMessage) -> dict[str, object]:
    return {name: getattr(message, name) for name in message.__slots__}  # type: ignore[attr-defined]


async def test_a_fanned_out_alert_is_a_photo_everywhere_uploaded_once(
    wired: Wired, clock: VirtualTime
) -> None:
    message = alert(1)
    await clock.run(*(wired.notifier.send(to(chat), message) for chat in (101, 102, 103)))

    photos = [wired.fake.messages(chat) for chat in (101, 102, 103)]
    assert all(len(sent) == 1 and sent[0].photo is not None for sent in photos)
    assert uploads(wired.fake) == 1
    file_ids = {sent[0].photo.file_id for sent in photos if sent[0].photo is not None}
    assert len(file_ids) == 1
    for [sent] in photos:
        assert sent.parse_mode == "HTML"
        assert sent.text == render_alert(message)
        assert sent.plain.startswith("🟢 Risk-on · Altcoin season: ASI at or above 75")
    assert wired.fake.calls["sendMessage"] == 0
    assert wired.fake.calls["sendPhoto"] == 3


async def test_the_second_destination_goes_by_file_id(wired: Wired, clock: VirtualTime) -> None:
    await clock.run(wired.notifier.send(to(201), alert(2)))
    await clock.run(wired.notifier.send(to(202), alert(2)))
    [first] = wired.fake.messages(201)
    [second] = wired.fake.messages(202)
    assert first.photo is not None and first.photo.uploaded
    assert second.photo is not None and not second.photo.uploaded
    assert second.photo.file_id == first.photo.file_id
    assert uploads(wired.fake) == 1


async def test_a_refused_first_upload_lets_the_next_destination_upload(
    wired: Wired, clock: VirtualTime
) -> None:
    wired.fake.fail_next(301, blocked_by_user())
    with pytest.raises(Exception, match="blocked"):
        await clock.run(wired.notifier.send(to(301), alert(3)))
    await clock.run(wired.notifier.send(to(302), alert(3)))
    [sent] = wired.fake.messages(302)
    assert sent.photo is not None and sent.photo.uploaded


async def test_a_long_alert_goes_as_text_then_photo(wired: Wired, clock: VirtualTime) -> None:
    message = long_alert(4)
    text = render_alert(message)
    assert not caption_fits(text)

    await clock.run(wired.notifier.send(to(401), message))

    [first, second] = wired.fake.messages(401)
    assert first.photo is None and first.text == text
    assert second.photo is not None and second.text == ""
    assert [r.method for r in wired.fake.rejections] == []


async def test_without_charts_the_alert_is_plain_text(wired: Wired, clock: VirtualTime) -> None:
    wired.notifier.use_charts(None)
    await clock.run(wired.notifier.send(to(501), alert(5)))
    [sent] = wired.fake.messages(501)
    assert sent.photo is None
    assert sent.text == render_alert(alert(5))


async def test_an_alert_whose_chart_failed_goes_as_text(wired: Wired, clock: VirtualTime) -> None:
    # AlertCharts answers None for a chart that failed (tests/bot/charts/test_alert_charts.py).
    wired.notifier.use_charts(Charts(image=None))
    await clock.run(wired.notifier.send(to(601), alert(6)))
    [sent] = wired.fake.messages(601)
    assert sent.photo is None
    assert sent.text == render_alert(alert(6))


async def test_notices_and_summaries_stay_text(wired: Wired, clock: VirtualTime) -> None:
    notice = AlertMessage(**{**_fields(alert(7)), "notice": FeedNotice("yahoo", None), "op": None})
    summary = HeldSummary(8, (alert(8), alert(9)), frozenset({"mute"}))
    await clock.run(wired.notifier.send(to(701), notice))
    await clock.run(wired.notifier.send_summary(to(702), summary))
    assert all(m.photo is None for m in wired.fake.sent)
    assert wired.fake.calls["sendPhoto"] == 0
