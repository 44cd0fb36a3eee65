"""Alert delivery over REST: embeds, rate limits, refusals, outages, and resends."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from bot.model.alerts import AlertMessage, HeldSummary
from bot.model.delivery import AlertChart, PermanentDeliveryError, TransientDeliveryError
from bot.model.destinations import Destination
from handlers.discord.frontend import DiscordFrontEnd
from tests.fakes.discord_api import Failure
from tests.handlers.discord.conftest import Radar, World, alert_message


def channel(world: World) -> Destination:
    return Destination("discord", str(world.alerts.id))


async def test_alert_is_delivered_as_an_embed(frontend: DiscordFrontEnd, world: World) -> None:
    await frontend.notifier.send(channel(world), alert_message())
    [posted] = world.fake.messages_in(world.alerts.id)
    [embed] = posted.embeds
    assert embed["title"] == "🟢 Risk-on · Custom alert: btc_usd > 100000"
    assert "description" not in embed
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields == {
        "Value": "**$101,250** `btc_usd`",
        "Rule": "above $100,000",
        "Change": "+2.3% from $99,000",
        "Provider": "binance",
    }
    assert embed["color"] == 0x2ECC71
    assert embed["timestamp"].startswith("2026-03-02T14:25:00")
    assert embed["footer"]["text"] == "rule c1 · alert #41"
    assert posted.nonce is not None


async def test_resending_the_same_alert_is_dropped_by_its_nonce(
    frontend: DiscordFrontEnd, world: World
) -> None:
    message = alert_message()
    await frontend.notifier.send(channel(world), message)
    await frontend.notifier.send(channel(world), message)
    await frontend.notifier.send(channel(world), alert_message(event_id=42))
    first, second = world.fake.messages_in(world.alerts.id)
    assert first.nonce != second.nonce


async def test_short_429_is_waited_out_and_loses_nothing(
    frontend: DiscordFrontEnd, world: World
) -> None:
    fake = world.fake
    fake.rate_limit_next(world.alerts.id, retry_after=0.05)
    await frontend.notifier.send(channel(world), alert_message())
    first, second = fake.attempts
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 0.05
    assert len(fake.messages_in(world.alerts.id)) == 1


async def test_long_429_goes_back_to_the_dispatcher(
    frontend: DiscordFrontEnd, world: World
) -> None:
    fake = world.fake
    fake.rate_limit_next(world.alerts.id, retry_after=120.0)
    with pytest.raises(TransientDeliveryError) as caught:
        await frontend.notifier.send(channel(world), alert_message())
    assert caught.value.retry_after == 120.0
    assert fake.messages_in(world.alerts.id) == []
    await frontend.notifier.send(channel(world), alert_message())
    assert len(fake.messages_in(world.alerts.id)) == 1


async def test_deleted_channel_is_permanent(frontend: DiscordFrontEnd, world: World) -> None:
    world.fake.delete_channel(world.alerts.id)
    with pytest.raises(PermanentDeliveryError, match="10003"):
        await frontend.notifier.send(channel(world), alert_message())


async def test_missing_access_is_permanent(frontend: DiscordFrontEnd, world: World) -> None:
    world.fake.forbid_channel(world.alerts.id)
    with pytest.raises(PermanentDeliveryError, match="50001"):
        await frontend.notifier.send(channel(world), alert_message())


async def test_closed_dms_are_permanent(frontend: DiscordFrontEnd, world: World) -> None:
    world.fake.fail_next(world.dm.id, Failure(400, 50007, "Cannot send messages to this user"))
    with pytest.raises(PermanentDeliveryError, match="50007"):
        await frontend.notifier.send(Destination("discord", str(world.dm.id)), alert_message())


async def test_server_error_is_transient(frontend: DiscordFrontEnd, world: World) -> None:
    world.fake.fail_next(world.alerts.id, Failure(503, message="upstream connect error"))
    with pytest.raises(TransientDeliveryError, match="503"):
        await frontend.notifier.send(channel(world), alert_message())
    await frontend.notifier.send(channel(world), alert_message())
    assert len(world.fake.messages_in(world.alerts.id)) == 1


async def test_network_error_is_transient(frontend: DiscordFrontEnd, world: World) -> None:
    await world.fake.close()
    with pytest.raises(TransientDeliveryError, match="cannot reach Discord"):
        await frontend.notifier.send(channel(world), alert_message())


async def test_not_a_discord_channel_is_permanent(frontend: DiscordFrontEnd) -> None:
    with pytest.raises(PermanentDeliveryError):
        await frontend.notifier.send(Destination("telegram", "-100"), alert_message())


async def test_sending_before_start_is_transient(world: World, radar: Radar) -> None:
    frontend = DiscordFrontEnd(
        token=world.fake.token,
        service=radar.service,
        api_url=world.fake.api_url,
        gateway_url=world.fake.gateway_url,
    )
    with pytest.raises(TransientDeliveryError, match="not logged in"):
        await frontend.notifier.send(channel(world), alert_message())


async def test_a_cloudflare_block_is_transient_with_its_wait(
    frontend: DiscordFrontEnd, world: World
) -> None:
    # Without a Via header discord.py takes a 429 for Cloudflare's ban and does not retry.
    world.fake.fail_next(world.alerts.id, Failure(429, message="banned", via=False, retry_after=90))
    with pytest.raises(TransientDeliveryError, match="blocks") as caught:
        await frontend.notifier.send(channel(world), alert_message())
    assert caught.value.retry_after == 90.0


async def test_held_alerts_go_out_as_one_embed_in_the_channel_zone(
    frontend: DiscordFrontEnd, world: World
) -> None:
    alerts = (alert_message(), alert_message(event_id=42, value=99_500.0))
    summary = HeldSummary(7, alerts, frozenset({"quiet"}))
    await frontend.notifier.send_summary(channel(world), summary, ZoneInfo("Europe/Berlin"))
    await frontend.notifier.send_summary(channel(world), summary, ZoneInfo("Europe/Berlin"))
    # A resent summary carries the same nonce, so Discord keeps one.
    [posted] = world.fake.messages_in(world.alerts.id)
    [embed] = posted.embeds
    assert embed["title"] == "🔕 During quiet hours: 2 alerts"
    lines = embed["description"].splitlines()
    assert len(lines) == 2
    assert all(line.startswith("• 🟢 2026-03-02 15:25 CET `c1` ") for line in lines)
    assert "**$99,500**" in lines[1]
    assert embed["footer"]["text"] == "held alerts #7"


class _Charts:
    """A chart source that hands out one small PNG for alerts, nothing for notices."""

    async def image(self, message: AlertMessage) -> AlertChart | None:
        if message.notice is not None:
            return None
        return AlertChart(_PNG, 64, 36)


_PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def test_an_alert_carries_its_chart_in_the_embed(
    frontend: DiscordFrontEnd, world: World
) -> None:
    frontend._notifier.use_charts(_Charts())
    await frontend.notifier.send(channel(world), alert_message())
    [posted] = world.fake.messages_in(world.alerts.id)
    [embed] = posted.embeds
    [upload] = posted.files
    assert upload.filename == "alert-41.png"
    assert upload.data == _PNG
    assert embed["image"]["url"] == "attachment://alert-41.png"
    # The text of the embed is the same as without a chart.
    assert embed["title"] == "🟢 Risk-on · Custom alert: btc_usd > 100000"
    assert embed["footer"]["text"] == "rule c1 · alert #41"


async def test_held_summaries_carry_no_chart(frontend: DiscordFrontEnd, world: World) -> None:
    frontend._notifier.use_charts(_Charts())
    summary = HeldSummary(7, (alert_message(),), frozenset({"quiet"}))
    await frontend.notifier.send_summary(channel(world), summary)
    [posted] = world.fake.messages_in(world.alerts.id)
    assert posted.files == ()
    assert all("image" not in e for e in posted.embeds)
