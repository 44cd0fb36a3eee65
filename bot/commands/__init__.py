"""The commands a chat can send, answered transport-agnostically: the only part of `bot` front-ends use."""

from bot.commands.catalog import BOT_NAME, BY_NAME, COMMANDS, GREETING, CommandSpec
from bot.commands.frontend import FrontEnd
from bot.commands.reports import (
    Caller,
    CommandError,
    EventInfo,
    MetricStatus,
    MuteInfo,
    NotAllowed,
    RegimeStatus,
    RuleInfo,
    StatusReport,
    SubscriptionChange,
    UniverseCoin,
    UniverseExclusion,
    UniverseStatus,
)
from bot.commands.service import CommandService, parse_duration, universe_status

__all__ = [
    "BOT_NAME",
    "BY_NAME",
    "COMMANDS",
    "GREETING",
    "Caller",
    "CommandError",
    "CommandService",
    "CommandSpec",
    "EventInfo",
    "FrontEnd",
    "MetricStatus",
    "MuteInfo",
    "NotAllowed",
    "RegimeStatus",
    "RuleInfo",
    "StatusReport",
    "SubscriptionChange",
    "UniverseCoin",
    "UniverseExclusion",
    "UniverseStatus",
    "parse_duration",
    "universe_status",
]
