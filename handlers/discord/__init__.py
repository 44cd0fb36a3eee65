"""The Discord front-end: slash commands over the command service, and alert delivery as embeds."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.commands import CommandService, FrontEnd
    from bot.settings import DiscordSettings


def _import_discord_py() -> None:
    """Import discord.py once, before any module of this package uses it."""
    with warnings.catch_warnings():
        # discord.player imports audioop for voice, which this bot never uses; Python 3.11 deprecates
        # audioop at import, and a deprecation warning is an error wherever warnings are strict.
        warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
        import discord  # noqa: PLC0415

    # The bot never joins voice: skip the warnings about voice libraries it does not need.
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False


_import_discord_py()


def build_frontend(settings: DiscordSettings, service: CommandService) -> FrontEnd:
    """Return the Discord front-end configured by its own settings; it connects when started."""
    # Imported here so that importing this package costs only discord.py itself.
    from handlers.discord.frontend import DiscordFrontEnd  # noqa: PLC0415

    if settings.token is None:
        raise ValueError("DISCORD_TOKEN is not set")
    return DiscordFrontEnd(
        token=settings.token.get_secret_value(),
        service=service,
        api_url=str(settings.api_url),
        gateway_url=settings.gateway_url,
        guild_id=settings.guild_id,
    )
