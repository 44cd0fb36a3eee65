"""The commands a chat can send, answered transport-agnostically: the only part of `bot` front-ends use."""

from bot.commands.catalog import BOT_NAME, BY_NAME, COMMANDS, GREETING, CommandSpec
from bot.commands.frontend import FrontEnd
from bot.commands.reports import (
    Caller,
    ChartReport,
    CommandError,
    EventInfo,
    MetricStatus,
    MuteInfo,
    NotAllowed,
    QuietInfo,
    RegimeStatus,
    RuleInfo,
    StatusReport,
    SubscriptionChange,
    TimeZoneInfo,
    UniverseCoin,
    UniverseExclusion,
    UniverseStatus,
    UnmuteInfo,
)
from bot.commands.service import CommandService, parse_duration, universe_status

__all__ = [
    "BOT_NAME",
    "BY_NAME",
    "COMMANDS",
    "GREETING",
    "Caller",
    "ChartReport",
    "CommandError",
    "CommandService",
    "CommandSpec",
    "EventInfo",
    "FrontEnd",
    "MetricStatus",
    "MuteInfo",
    "NotAllowed",
    "QuietInfo",
    "RegimeStatus",
    "RuleInfo",
    "StatusReport",
    "SubscriptionChange",
    "TimeZoneInfo",
    "UniverseCoin",
    "UniverseExclusion",
    "UniverseStatus",
    "UnmuteInfo",
    "parse_duration",
    "universe_status",
]
