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
    CommandSpec("mute", "<duration>", "Silence alerts here for a while, e.g. 2h or 1d", True),
    CommandSpec("unmute", "", "Resume alerts here", True),
    CommandSpec("history", "[n]", "The last n alerts sent here"),
    CommandSpec("chart", "<metric> [days]", "A chart of a metric with its rules and alerts"),
)

BY_NAME: dict[str, CommandSpec] = {c.name: c for c in COMMANDS}
