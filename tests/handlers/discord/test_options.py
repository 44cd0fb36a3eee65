"""Option payloads checked against the declared commands, and the small helpers of the commands."""

from __future__ import annotations

from typing import Any

import pytest
from discord import app_commands

from handlers.discord.commands import RadarCommands, choices, list_choices, split_ids
from handlers.discord.options import leaf_options, option_problem, usage
from tests.fakes.discord_api import option, subcommand
from tests.handlers.discord.conftest import Radar


@pytest.fixture
def commands(radar: Radar) -> dict[str, Any]:
    built = RadarCommands(radar.service).build()
    found: dict[str, Any] = {}
    for command in built:
        if isinstance(command, app_commands.Group):
            found.update({c.qualified_name: c for c in command.commands})
        else:
            found[command.name] = command
    return found


def problem(
    command: Any, *options: dict[str, Any], resolved: Any = None, auto: bool = False
) -> Any:
    data = {"options": list(options), "resolved": resolved or {}}
    return option_problem(command, data, autocomplete=auto)


def test_usage_shows_required_and_optional_options(commands: dict[str, Any]) -> None:
    assert (
        usage(commands["alert add"]) == "/alert add metric:<metric> condition:<condition> [value]"
    )
    assert usage(commands["history"]) == "/history [count]"


def test_leaf_options_descend_into_subcommands() -> None:
    data = {"options": [subcommand("add", option("metric", "asi"))]}
    assert leaf_options(data) == [option("metric", "asi")]
    assert leaf_options({"options": "junk"}) == [{}]


@pytest.mark.parametrize(
    ("name", "options", "expected"),
    [
        ("history", [option("count", 3, 4)], None),
        ("history", [option("count", 3.5, 4)], "count must be a whole number"),
        ("history", [option("count", True, 4)], "count must be a whole number"),
        ("history", [option("count", 51, 4)], "count must be from 1 to 50"),
        (
            "alert add",
            [option("metric", "asi"), option("condition", ">"), option("value", 5, 10)],
            None,
        ),
        (
            "alert add",
            [option("metric", "asi"), option("condition", ">"), option("value", float("nan"), 10)],
            "value must be a number",
        ),
        ("alert add", [option("metric", 5), option("condition", ">")], "metric must be text"),
        ("alert add", [option("metric", "asi")], "missing condition"),
        (
            "status",
            [option("metric", "asi"), option("metric", "rut")],
            "option 'metric' given twice",
        ),
        ("status", [{"name": "metric"}], "option 'metric' has no value"),
        ("status", ["junk"], "unknown option 'None'"),
        (
            "subscribe",
            [option("rules", "all"), option("channel", "12x", 7)],
            "channel must be a Discord id",
        ),
    ],
)
def test_option_problems(
    commands: dict[str, Any], name: str, options: list[dict[str, Any]], expected: str | None
) -> None:
    assert problem(commands[name], *options) == expected


def test_channel_option_must_be_a_resolved_text_channel(commands: dict[str, Any]) -> None:
    subscribe = commands["subscribe"]
    voice = {"channels": {"9": {"id": "9", "type": 2, "name": "voice", "permissions": "16"}}}
    text = {"channels": {"9": {"id": "9", "type": 0, "name": "alerts", "permissions": "16"}}}
    picked = (option("rules", "all"), option("channel", "9", 7))
    assert problem(subscribe, *picked, resolved=voice) == (
        "channel must be a text or announcement channel"
    )
    assert problem(subscribe, *picked, resolved=text) is None
    assert problem(subscribe, *picked) == "channel must be a channel of this server"


def test_autocomplete_checks_shapes_but_not_the_focused_value(commands: dict[str, Any]) -> None:
    add = commands["alert add"]
    typing = option("metric", "bt", focused=True)
    assert problem(add, typing, auto=True) is None
    assert problem(add, typing, option("value", "x", 10), auto=True) == "value must be a number"
    assert problem(add, option("value", "", 10, focused=True), auto=True) is None


def test_split_ids_takes_spaces_and_commas() -> None:
    assert split_ids(" altseason,rut-new-high  c3 ") == ("altseason", "rut-new-high", "c3")
    assert split_ids("  ") == ()


def test_choices_rank_prefix_matches_first_and_stop_at_25() -> None:
    ids = ["total2", "btc_usd", "eth_btc", "btc_dominance"]
    assert [c.value for c in choices(ids, "btc")] == ["btc_usd", "btc_dominance", "eth_btc"]
    assert len(choices([f"id{i}" for i in range(40)], "")) == 25


def test_list_choices_complete_the_last_word() -> None:
    ids = ["all", "altseason", "asi-above-50"]
    assert [c.value for c in list_choices(ids, "altseason a")] == [
        "altseason all",
        "altseason asi-above-50",
    ]
    assert list_choices(ids, "altseason ")[0].value == "altseason all"
    assert all(len(c.value) <= 100 for c in list_choices(ids, "x" * 95 + " a"))
