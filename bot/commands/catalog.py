"""The chat commands every front-end offers, with their usage and one-line help."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """A command's name, argument synopsis and description."""

    name: str
    args: str
    description: str
    changes_chat: bool = False

    @property
    def usage(self) -> str:
        return f"/{self.name} {self.args}".rstrip()


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("start", "", "Introduce the bot and list the commands"),
    CommandSpec("help", "", "List the commands"),
    CommandSpec("status", "[metric]", "Current values, their age and source, firing rules"),
    CommandSpec("rules", "", "Built-in rules you can subscribe to"),
    CommandSpec("subscribe", "[rule ...|all]", "Send this chat alerts for these rules", True),
    CommandSpec("unsubscribe", "[rule ...|all]", "Stop alerts for these rules", True),
    CommandSpec(
        "alert",
        "<metric> <op> <value> | <metric> new high | remove <id>",
        "Add or remove a custom alert for this chat",
        True,
    ),
    CommandSpec("alerts", "", "This chat's custom alerts"),
    CommandSpec(
        "mute",
        "<duration>",
        "Hold alerts here for a while, e.g. 2h; sent in one summary after",
        True,
    ),
    CommandSpec("unmute", "", "Resume alerts here and send what was held", True),
    CommandSpec("history", "[n]", "The last n alerts sent or held here"),
    CommandSpec("chart", "<metric> [days]", "A chart of a metric with its rules and alerts"),
    CommandSpec(
        "backtest",
        "<rule | metric op value> [years]",
        "How often a rule would have fired on the stored history, and what followed",
    ),
    CommandSpec(
        "quiet",
        "<HH:MM-HH:MM> [zone] | off",
        "Hold alerts every night (or any daily window), sent in one summary after",
        True,
    ),
    CommandSpec(
        "timezone", "<IANA zone>", "Show times here in this zone, e.g. Europe/Berlin", True
    ),
)

BY_NAME: dict[str, CommandSpec] = {c.name: c for c in COMMANDS}

# What `/start` says before the command list, on every front-end: the bot's name (each front-end
# sets it in bold), then what it does and where to begin.
BOT_NAME = "Risk-On Radar"
GREETING = (
    "watches the signals behind the small-caps-then-altcoins rotation and tells this chat the "
    "moment a rule you subscribe to fires.\nStart with /rules, then /subscribe."
)
