"""Alert delivery over REST: embeds, rate limits, refusals, outages, and resends."""

from __future__ import annotations

import pytest

from bot.model.delivery import PermanentDeliveryError, TransientDeliveryError
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
