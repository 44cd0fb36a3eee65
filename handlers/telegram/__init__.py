"""Telegram front-end: commands over long polling, alerts through a paced notifier."""

from __future__ import annotations

from bot.commands import CommandService
from bot.settings import TelegramSettings
from handlers.telegram.frontend import TelegramFrontEnd, TelegramStartError
from handlers.telegram.pacing import FloodLimits, Rate

__all__ = ["FloodLimits", "Rate", "TelegramFrontEnd", "TelegramStartError", "build_frontend"]


def build_frontend(settings: TelegramSettings, service: CommandService) -> TelegramFrontEnd:
    """Build the Telegram front-end from its own settings; `TELEGRAM_TOKEN` must be set."""
    if settings.token is None or not settings.token.get_secret_value():
        raise ValueError("TELEGRAM_TOKEN is not set")
    return TelegramFrontEnd(
        token=settings.token.get_secret_value(),
        service=service,
        api_url=settings.api_url,
        limits=FloodLimits(
            overall=Rate(settings.rate_global, 1.0),
            per_chat=Rate(settings.rate_per_chat, 1.0),
            per_group=Rate(settings.rate_per_group_minute, 60.0),
        ),
    )
