"""Check an interaction's raw options against the command's declared ones before discord.py reads them.

Discord's clients only send well-typed options, but an interaction is data from the network: a
number option holding text would make discord.py raise while building the namespace, in a task
nobody answers. Checking first turns any such payload into a usage reply.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from discord import AppCommandOptionType
from discord.app_commands import Command, Parameter

_SUBCOMMAND_TYPES = (1, 2)
_SNOWFLAKE_TYPES = (6, 7, 8, 9, 11)


def leaf_options(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Return the options of the innermost subcommand of an application-command payload."""
    options: Any = data.get("options") or []
    while isinstance(options, list) and options:
        first = options[0]
        if not isinstance(first, Mapping) or first.get("type") not in _SUBCOMMAND_TYPES:
            break
        options = first.get("options") or []
    if not isinstance(options, list):
        return [{}]
    return options


def usage(command: Command[Any, ..., Any]) -> str:
    """Return the command's synopsis, e.g. `/alert add metric:<metric> condition:<…> [value]`."""
    parts = [f"/{command.qualified_name}"]
    for param in command.parameters:
        name = param.display_name
        parts.append(f"{name}:<{name}>" if param.required else f"[{name}]")
    return " ".join(parts)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _shape_problem(param: Parameter, value: object) -> str | None:
    kind = param.type
    name = param.display_name
    if kind is AppCommandOptionType.string and not isinstance(value, str):
        return f"{name} must be text"
    if kind is AppCommandOptionType.integer and not _is_int(value):
        return f"{name} must be a whole number"
    if kind is AppCommandOptionType.number and not (
        (_is_int(value) or isinstance(value, float)) and math.isfinite(float(value))  # type: ignore[arg-type]
    ):
        return f"{name} must be a number"
    if kind is AppCommandOptionType.boolean and not isinstance(value, bool):
        return f"{name} must be true or false"
    if kind.value in _SNOWFLAKE_TYPES and not (isinstance(value, str) and value.isdigit()):
        return f"{name} must be a Discord id"
    return None


def _value_problem(param: Parameter, value: object, resolved: Mapping[str, Any]) -> str | None:
    problem = _shape_problem(param, value)
    if problem:
        return problem
    name = param.display_name
    low, high = param.min_value, param.max_value
    if isinstance(value, str) and param.type is AppCommandOptionType.string:
        size: float = len(value)
        unit = " characters"
    elif isinstance(value, int | float) and not isinstance(value, bool):
        size, unit = value, ""
    else:
        size, unit = math.nan, ""
    if (low is not None and size < low) or (high is not None and size > high):
        return f"{name} must be from {low if low is not None else 0} to {high}{unit}"
    if param.type is AppCommandOptionType.channel:
        return _channel_problem(param, str(value), resolved)
    if param.choices and value not in {c.value for c in param.choices}:
        return f"{name} must be one of {', '.join(str(c.value) for c in param.choices)}"
    return None


def _channel_problem(param: Parameter, value: str, resolved: Mapping[str, Any]) -> str | None:
    channels = resolved.get("channels")
    found = channels.get(value) if isinstance(channels, Mapping) else None
    if not isinstance(found, Mapping) or "permissions" not in found or "name" not in found:
        return f"{param.display_name} must be a channel of this server"
    allowed = {t.value for t in param.channel_types}
    if allowed and found.get("type") not in allowed:
        return f"{param.display_name} must be a text or announcement channel"
    return None


def option_problem(
    command: Command[Any, ..., Any], data: Mapping[str, Any], *, autocomplete: bool
) -> str | None:
    """Return what is wrong with the payload's options for `command`, or None when they fit.

    For autocomplete only names and shapes are checked: the focused value is half-typed text.
    """
    params = {p.display_name: p for p in command.parameters}
    resolved: Any = data.get("resolved") or {}
    seen: set[str] = set()
    for option in leaf_options(data):
        name = option.get("name") if isinstance(option, Mapping) else None
        if not isinstance(name, str) or name not in params:
            return f"unknown option {str(name)[:40]!r}"
        if name in seen:
            return f"option {name!r} given twice"
        seen.add(name)
        if "value" not in option:
            return f"option {name!r} has no value"
        if autocomplete:
            # The focused value is half-typed text; the others must still parse.
            focused = option.get("focused") is True
            problem = None if focused else _shape_problem(params[name], option["value"])
        else:
            problem = _value_problem(params[name], option["value"], resolved)
        if problem:
            return problem
    if not autocomplete:
        missing = [
            p.display_name for p in command.parameters if p.required and p.display_name not in seen
        ]
        if missing:
            return f"missing {missing[0]}"
    return None
