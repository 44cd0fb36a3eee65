"""The commands a chat can send, answered transport-agnostically: the only part of `bot` front-ends use."""

from bot.commands.catalog import BY_NAME, COMMANDS, CommandSpec
from bot.commands.frontend import FrontEnd
from bot.commands.reports import (
    Caller,
    ChartReport,
    CommandError,
    EventInfo,
    MetricStatus,
    MuteInfo,
    NotAllowed,
    RegimeStatus,
    RuleInfo,
    StatusReport,
    SubscriptionChange,
)
from bot.commands.service import CommandService, parse_duration

__all__ = [
    "BY_NAME",
    "COMMANDS",
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
    "RegimeStatus",
    "RuleInfo",
    "StatusReport",
    "SubscriptionChange",
    "parse_duration",
]
