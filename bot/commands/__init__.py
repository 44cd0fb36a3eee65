"""The commands a chat can send, answered transport-agnostically: the only part of `bot` front-ends use."""

from bot.commands.catalog import BY_NAME, COMMANDS, CommandSpec
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
    "BY_NAME",
    "COMMANDS",
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
