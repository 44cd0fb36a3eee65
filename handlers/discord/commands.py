"""Discord application commands over the command service: typed options, authority, replies.

Each command turns its options into one service call and renders the answer. The front-end
decides authority (`Caller.can_manage`): in a guild, Manage Channels in the channel (and in the
target channel of `/subscribe channel:`); in a DM, always. The service enforces it. Every
`CommandError`, and any option payload that does not fit the command, gets an ephemeral reply.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import discord
from discord import app_commands

from bot.commands import (
    BOT_NAME,
    BY_NAME,
    GREETING,
    Caller,
    CommandError,
    CommandService,
    NotAllowed,
)
from bot.model.destinations import Destination
from bot.model.quiet import known_zones
from bot.model.rules import ALL_OPS
from handlers.discord import render
from handlers.discord.layout import Attachment, Outgoing, Reply, pack
from handlers.discord.options import option_problem, usage
from handlers.discord.render import to_embed
from timing import Sleep

log = logging.getLogger(__name__)

Interaction = discord.Interaction[discord.Client]
AppCommand = app_commands.Command[Any, ..., Any] | app_commands.Group

# What a member without the permission is told when a command would change a channel's alerts.
REFUSED = (
    "Changing a server channel's alerts needs the Manage Channels permission in that channel "
    "(or Administrator); anyone can read them."
)
# Discord drops an interaction not acknowledged within 3 s; a slower answer is deferred first.
DEFER_AFTER = 2.0
MANAGE = discord.Permissions(manage_channels=True)
CHOICES_LIMIT = 25
CHOICE_LENGTH = 100
MAX_HISTORY = 50
MAX_YEARS = 50
# Samples are kept 400 days by default; the service refuses more than the configured retention.
MAX_CHART_DAYS = 400
MUTE_SUGGESTIONS = ("30m", "1h", "2h", "8h", "1d", "1w")
QUIET_SUGGESTIONS = ("22:00-07:00", "23:00-07:00", "00:00-08:00", "off")
_WORDS = re.compile(r"[\s,]+")


class AlertChannel(app_commands.Transformer[discord.Client]):
    """A text or announcement channel option, as Discord resolved it: no guild cache needed."""

    @property
    def type(self) -> discord.AppCommandOptionType:
        return discord.AppCommandOptionType.channel

    @property
    def channel_types(self) -> list[discord.ChannelType]:
        return [discord.ChannelType.text, discord.ChannelType.news]

    async def transform(self, interaction: Interaction, value: Any, /) -> Any:
        if not isinstance(value, app_commands.AppCommandChannel):
            raise app_commands.TransformerError(value, self.type, self)
        return value


ChannelOption = app_commands.Transform[app_commands.AppCommandChannel, AlertChannel]


def manages(permissions: discord.Permissions) -> bool:
    """Return True when these permissions may change a channel's alerts."""
    return permissions.administrator or permissions.manage_channels


def split_ids(text: str) -> tuple[str, ...]:
    """Split `altseason, asi-above-50 rut-new-high` into ids."""
    return tuple(word for word in _WORDS.split(text) if word)


def choices(candidates: Iterable[str], current: str) -> list[app_commands.Choice[str]]:
    """Return up to 25 choices: ids starting with what was typed, then ids containing it."""
    typed = current.strip().lower()
    pool = [c for c in dict.fromkeys(candidates) if len(c) <= CHOICE_LENGTH]
    ranked = [c for c in pool if c.lower().startswith(typed)]
    ranked += [c for c in pool if typed in c.lower() and c not in ranked]
    return [app_commands.Choice(name=c, value=c) for c in ranked[:CHOICES_LIMIT]]


def list_choices(candidates: Sequence[str], current: str) -> list[app_commands.Choice[str]]:
    """Complete the last id of a space-separated list, keeping the ones already typed."""
    words = split_ids(current)
    done, last = (words[:-1], words[-1]) if words and not current.endswith(" ") else (words, "")
    prefix = " ".join(done)
    offered = []
    for choice in choices([c for c in candidates if c not in done], last):
        value = f"{prefix} {choice.value}".strip()
        if len(value) <= CHOICE_LENGTH:
            offered.append(app_commands.Choice(name=value, value=value))
    return offered


def _about(name: str) -> str:
    return BY_NAME[name].description[:CHOICE_LENGTH]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class RadarCommands:
    """The bot's slash commands, answering through `service`."""

    def __init__(
        self,
        service: CommandService,
        *,
        defer_after: float = DEFER_AFTER,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._service = service
        self._defer_after = defer_after
        self._sleep = sleep

    # ---- authority -------------------------------------------------------------------------

    def caller(
        self, interaction: Interaction, target: app_commands.AppCommandChannel | None = None
    ) -> Caller:
        """Return who is asking and for which channel, with the front-end's authority decision."""
        user = f"discord:{interaction.user.id}"
        channel_id = interaction.channel_id
        if interaction.guild_id is None:
            if target is not None:
                raise CommandError("channel: works inside a server; in a DM, alerts come here")
            if channel_id is None:
                raise CommandError("this conversation has no channel to send alerts to")
            return Caller(Destination("discord", str(channel_id)), user, True)
        can_manage = manages(interaction.permissions)
        if target is not None:
            if target.guild_id != interaction.guild_id:
                raise CommandError("channel: must be a channel of this server")
            can_manage = can_manage and manages(target.permissions)
            channel_id = target.id
        if channel_id is None:
            raise CommandError("this command needs a channel")
        return Caller(Destination("discord", str(channel_id)), user, can_manage)

    # ---- answering -------------------------------------------------------------------------

    async def answer(self, interaction: Interaction, work: Callable[[], Awaitable[Reply]]) -> None:
        """Run `work` and reply with its result, deferring first when it is slow."""
        task = asyncio.ensure_future(self._guarded(work))
        timer = asyncio.ensure_future(self._sleep(self._defer_after))
        try:
            await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
        deferred = False
        if not task.done():
            try:
                await interaction.response.defer(thinking=True)
                deferred = True
            except discord.HTTPException as exc:
                log.warning("could not defer /%s: %s", _name(interaction), exc)
        reply = await task
        try:
            await self.send(interaction, reply, deferred=deferred)
        except discord.HTTPException as exc:
            log.warning("could not answer /%s: %s", _name(interaction), exc)

    @staticmethod
    async def _guarded(work: Callable[[], Awaitable[Reply]]) -> Reply:
        try:
            return await work()
        except NotAllowed:
            # The service's refusal speaks of a chat's administrators; Discord's word is the
            # permission.
            return Reply(REFUSED, ephemeral=True)
        except CommandError as exc:
            return Reply(exc.message, ephemeral=True)
        except Exception:
            # The user still gets an answer; the operator gets the traceback.
            log.exception("a Discord command failed")
            return Reply("Something went wrong on our side; it has been logged.", ephemeral=True)

    @staticmethod
    async def send(interaction: Interaction, reply: Reply, *, deferred: bool = False) -> None:
        """Deliver `reply`: as the response, or into the deferred one, then as followups."""
        messages = pack(reply) or (Outgoing(content="Done."),)
        first, rest = messages[0], messages[1:]
        if deferred and reply.ephemeral:
            # A deferred answer is public; drop it so the refusal can be private.
            await interaction.delete_original_response()
            await interaction.followup.send(**_message(first), ephemeral=True)
        elif deferred:
            await interaction.edit_original_response(**_message(first, edit=True))
        elif interaction.response.is_done():
            await interaction.followup.send(**_message(first), ephemeral=reply.ephemeral)
        else:
            await interaction.response.send_message(**_message(first), ephemeral=reply.ephemeral)
        for outgoing in rest:
            await interaction.followup.send(**_message(outgoing), ephemeral=reply.ephemeral)

    # ---- actions ---------------------------------------------------------------------------

    async def _status(self, metric: str | None) -> Reply:
        report = await self._service.status(metric.strip() if metric else None)
        return Reply(embeds=(render.status_embed(report),))

    async def _rules(self, interaction: Interaction) -> Reply:
        return Reply(render.rules_text(await self._service.rules(self.caller(interaction))))

    async def _subscribe(
        self, interaction: Interaction, rules: str, channel: app_commands.AppCommandChannel | None
    ) -> Reply:
        caller = self.caller(interaction, channel)
        change = await self._service.subscribe(caller, split_ids(rules))
        return Reply(render.subscription_text(change, _where(channel)))

    async def _unsubscribe(
        self, interaction: Interaction, rules: str, channel: app_commands.AppCommandChannel | None
    ) -> Reply:
        caller = self.caller(interaction, channel)
        change = await self._service.unsubscribe(caller, split_ids(rules))
        return Reply(render.subscription_text(change, _where(channel)))

    async def _add_alert(
        self, interaction: Interaction, metric: str, condition: str, value: float | None
    ) -> Reply:
        if condition == "new high" and value is not None:
            raise CommandError(
                "new high takes no value: /alert add metric:<metric> condition:new high"
            )
        if condition != "new high" and value is None:
            raise CommandError(
                f"{condition} needs a value, e.g. /alert add metric:asi condition:> value:50"
            )
        spec = f"{metric} new high" if value is None else f"{metric} {condition} {_number(value)}"
        rule = await self._service.add_alert(self.caller(interaction), spec)
        return Reply(render.added_alert_text(rule))

    async def _remove_alert(self, interaction: Interaction, alert: str) -> Reply:
        await self._service.remove_alert(self.caller(interaction), alert)
        return Reply(f"Removed alert `{alert.strip().lower()}`.")

    async def _alerts(self, interaction: Interaction) -> Reply:
        found = await self._service.list_alerts(self.caller(interaction))
        return Reply(render.rules_text(found, custom_only=True))

    async def _mute(self, interaction: Interaction, duration: str) -> Reply:
        return Reply(render.mute_text(await self._service.mute(self.caller(interaction), duration)))

    async def _unmute(self, interaction: Interaction) -> Reply:
        return Reply(render.unmute_text(await self._service.unmute(self.caller(interaction))))

    async def _history(self, interaction: Interaction, count: int | None) -> Reply:
        shown = None if count is None else str(count)
        caller = self.caller(interaction)
        events = await self._service.history(caller, shown)
        return Reply(render.history_text(events, await self._service.time_zone(caller)))

    async def _quiet(self, interaction: Interaction, hours: str | None, zone: str | None) -> Reply:
        if hours is None and zone is not None:
            raise CommandError(
                "zone: goes with hours:, e.g. /quiet hours:23:00-07:00 zone:Europe/Berlin"
            )
        words = [w for w in (hours, zone) if w is not None]
        return Reply(render.quiet_text(await self._service.quiet(self.caller(interaction), words)))

    async def _timezone(self, interaction: Interaction, zone: str | None) -> Reply:
        caller = self.caller(interaction)
        if zone is None:
            return Reply(render.time_zone_text(await self._service.show_time_zone(caller)))
        return Reply(render.time_zone_text(await self._service.set_time_zone(caller, zone)))

    async def _backtest(self, interaction: Interaction, rule: str, years: int | None) -> Reply:
        words = [*rule.split(), *(() if years is None else (str(years),))]
        found = await self._service.backtest(self.caller(interaction), words)
        png = await self._service.backtest_chart(found)
        files = () if png is None else (Attachment("backtest.png", png),)
        return Reply(render.backtest_text(found), files=files)

    async def _chart(self, interaction: Interaction, metric: str, days: int | None) -> Reply:
        shown = None if days is None else str(days)
        report = await self._service.chart(self.caller(interaction), metric, shown)
        chart = Attachment(report.filename, report.png)
        return Reply(embeds=(render.chart_embed(report, chart.url),), files=(chart,))

    # ---- autocomplete ----------------------------------------------------------------------

    async def _complete(self, candidates: Callable[[], Awaitable[Sequence[str]]]) -> Sequence[str]:
        try:
            return await candidates()
        except CommandError:
            return ()
        except Exception:
            log.exception("autocomplete failed")
            return ()

    async def complete_metric(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Offer metric ids matching what was typed."""
        return choices(await self._complete(self._service.metric_ids), current)

    async def complete_rules(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Offer `all` and rule ids (the caller's custom ones included) for the last word typed."""

        async def ids() -> Sequence[str]:
            return ("all", *await self._service.rule_ids(self.caller(interaction)))

        return list_choices(await self._complete(ids), current)

    async def complete_rules_one(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Offer rule ids (the caller's custom ones included) matching what was typed."""

        async def ids() -> Sequence[str]:
            return await self._service.rule_ids(self.caller(interaction))

        return choices(await self._complete(ids), current)

    async def complete_custom(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Offer this channel's custom alert ids."""

        async def ids() -> Sequence[str]:
            return [r.id for r in await self._service.list_alerts(self.caller(interaction))]

        return choices(await self._complete(ids), current)

    async def complete_quiet(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Offer common quiet hours, and off."""
        return choices(QUIET_SUGGESTIONS, current)

    async def complete_zone(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Offer IANA zone names matching what was typed."""
        return choices(known_zones(), current)

    async def complete_duration(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Offer common mute durations."""
        return choices(MUTE_SUGGESTIONS, current)

    # ---- the command tree ------------------------------------------------------------------

    def build(self) -> list[AppCommand]:
        """Return fresh command objects, ready to add to a `CommandTree`."""
        answer = self.answer

        @app_commands.command(name="status", description=_about("status"))
        @app_commands.describe(metric="A metric id, e.g. asi or btc_dominance; empty for all")
        @app_commands.autocomplete(metric=self.complete_metric)
        async def status(interaction: Interaction, metric: str | None = None) -> None:
            await answer(interaction, lambda: self._status(metric))

        @app_commands.command(name="rules", description=_about("rules"))
        async def rules(interaction: Interaction) -> None:
            await answer(interaction, lambda: self._rules(interaction))

        @app_commands.command(name="subscribe", description=_about("subscribe"))
        @app_commands.default_permissions(manage_channels=True)
        @app_commands.describe(
            rules="Rule ids separated by spaces, or all",
            channel="Send the alerts to this channel instead of this one",
        )
        @app_commands.autocomplete(rules=self.complete_rules)
        async def subscribe(
            interaction: Interaction, rules: str, channel: ChannelOption | None = None
        ) -> None:
            await answer(interaction, lambda: self._subscribe(interaction, rules, channel))

        @app_commands.command(name="unsubscribe", description=_about("unsubscribe"))
        @app_commands.default_permissions(manage_channels=True)
        @app_commands.describe(
            rules="Rule ids separated by spaces, or all",
            channel="Stop the alerts in this channel instead of this one",
        )
        @app_commands.autocomplete(rules=self.complete_rules)
        async def unsubscribe(
            interaction: Interaction, rules: str, channel: ChannelOption | None = None
        ) -> None:
            await answer(interaction, lambda: self._unsubscribe(interaction, rules, channel))

        alert = app_commands.Group(
            name="alert", description=_about("alert"), default_permissions=MANAGE
        )

        @alert.command(name="add", description="Add a custom alert for this channel")
        @app_commands.describe(
            metric="The metric to watch",
            condition="When to fire",
            value="The threshold (not for new high)",
        )
        @app_commands.choices(condition=[app_commands.Choice(name=op, value=op) for op in ALL_OPS])
        @app_commands.autocomplete(metric=self.complete_metric)
        async def alert_add(
            interaction: Interaction, metric: str, condition: str, value: float | None = None
        ) -> None:
            await answer(
                interaction, lambda: self._add_alert(interaction, metric, condition, value)
            )

        @alert.command(name="remove", description="Remove one of this channel's custom alerts")
        @app_commands.rename(alert_id="id")
        @app_commands.describe(alert_id="The alert's id, as /alerts lists it")
        @app_commands.autocomplete(alert_id=self.complete_custom)
        async def alert_remove(interaction: Interaction, alert_id: str) -> None:
            await answer(interaction, lambda: self._remove_alert(interaction, alert_id))

        @app_commands.command(name="alerts", description=_about("alerts"))
        async def alerts(interaction: Interaction) -> None:
            await answer(interaction, lambda: self._alerts(interaction))

        @app_commands.command(name="mute", description=_about("mute"))
        @app_commands.default_permissions(manage_channels=True)
        @app_commands.describe(duration="How long, e.g. 30m, 2h, 1d")
        @app_commands.autocomplete(duration=self.complete_duration)
        async def mute(interaction: Interaction, duration: str) -> None:
            await answer(interaction, lambda: self._mute(interaction, duration))

        @app_commands.command(name="unmute", description=_about("unmute"))
        @app_commands.default_permissions(manage_channels=True)
        async def unmute(interaction: Interaction) -> None:
            await answer(interaction, lambda: self._unmute(interaction))

        # No default permissions on these two: anyone may read them; the service refuses a
        # change from a member without Manage Channels.
        @app_commands.command(name="quiet", description=_about("quiet"))
        @app_commands.describe(
            hours="HH:MM-HH:MM, e.g. 23:00-07:00, or off; empty to show them",
            zone="IANA time zone, e.g. Europe/Berlin (default: this channel's /timezone)",
        )
        @app_commands.autocomplete(hours=self.complete_quiet, zone=self.complete_zone)
        async def quiet(
            interaction: Interaction, hours: str | None = None, zone: str | None = None
        ) -> None:
            await answer(interaction, lambda: self._quiet(interaction, hours, zone))

        @app_commands.command(name="timezone", description=_about("timezone"))
        @app_commands.describe(zone="IANA time zone, e.g. Europe/Berlin; empty to show it")
        @app_commands.autocomplete(zone=self.complete_zone)
        async def timezone(interaction: Interaction, zone: str | None = None) -> None:
            await answer(interaction, lambda: self._timezone(interaction, zone))

        @app_commands.command(name="history", description=_about("history"))
        @app_commands.describe(count=f"How many, 1 to {MAX_HISTORY} (default 10)")
        async def history(
            interaction: Interaction, count: app_commands.Range[int, 1, MAX_HISTORY] | None = None
        ) -> None:
            await answer(interaction, lambda: self._history(interaction, count))

        @app_commands.command(name="backtest", description=_about("backtest"))
        @app_commands.describe(
            rule="A rule id, or a condition such as asi >= 75",
            years=f"How many years back, 1 to {MAX_YEARS} (default: all stored history)",
        )
        @app_commands.autocomplete(rule=self.complete_rules_one)
        async def backtest(
            interaction: Interaction,
            rule: str,
            years: app_commands.Range[int, 1, MAX_YEARS] | None = None,
        ) -> None:
            await answer(interaction, lambda: self._backtest(interaction, rule, years))

        @app_commands.command(name="chart", description=_about("chart"))
        @app_commands.describe(
            metric="A metric id, e.g. asi or rut",
            days=f"How many days back, 1 to {MAX_CHART_DAYS} (default 90)",
        )
        @app_commands.autocomplete(metric=self.complete_metric)
        async def chart(
            interaction: Interaction,
            metric: str,
            days: app_commands.Range[int, 1, MAX_CHART_DAYS] | None = None,
        ) -> None:
            await answer(interaction, lambda: self._chart(interaction, metric, days))

        commands: list[AppCommand] = [
            status,
            rules,
            subscribe,
            unsubscribe,
            alert,
            alerts,
            mute,
            unmute,
            history,
            quiet,
            timezone,
            backtest,
            chart,
        ]

        @app_commands.command(name="help", description=_about("help"))
        async def help_(interaction: Interaction) -> None:
            await self.send(interaction, Reply(help_text(commands), ephemeral=True))

        @app_commands.command(name="start", description=_about("start"))
        async def start(interaction: Interaction) -> None:
            await self.send(interaction, Reply(start_text(commands)))

        return [*commands, help_, start]


def help_text(commands: Sequence[AppCommand]) -> str:
    """Return one line per command: its Discord synopsis and what it does."""
    lines = ["**Risk-On Radar commands**"]
    for command in commands:
        subcommands = command.commands if isinstance(command, app_commands.Group) else [command]
        for sub in subcommands:
            if isinstance(sub, app_commands.Command):
                lines.append(f"`{usage(sub)}` — {sub.description}")
    lines.append(f"`/help` — {_about('help')}")
    lines.append(f"`/start` — {_about('start')}")
    lines.append("Changing a server channel's alerts needs the Manage Channels permission.")
    return "\n".join(lines)


def start_text(commands: Sequence[AppCommand]) -> str:
    """Return `/start`: what the bot does and where to begin (Telegram's words), then /help's."""
    return f"**{BOT_NAME}** {GREETING}\n\n{help_text(commands)}"


def _where(channel: app_commands.AppCommandChannel | None) -> str:
    return "this channel" if channel is None else f"<#{channel.id}>"


def _message(outgoing: Outgoing, *, edit: bool = False) -> dict[str, Any]:
    message: dict[str, Any] = {"embeds": [to_embed(e) for e in outgoing.embeds]}
    if outgoing.content:
        message["content"] = outgoing.content
    if outgoing.files:
        files = [discord.File(io.BytesIO(f.data), filename=f.filename) for f in outgoing.files]
        # Editing a message takes its files as `attachments`; sending one takes `files`.
        message["attachments" if edit else "files"] = files
    return message


def _name(interaction: Interaction) -> str:
    command = interaction.command
    return command.qualified_name if command is not None else "?"


class RadarTree(app_commands.CommandTree[discord.Client]):
    """A command tree that answers malformed interactions and failures instead of going quiet."""

    def __init__(self, client: discord.Client, commands: RadarCommands) -> None:
        super().__init__(
            client,
            allowed_contexts=app_commands.AppCommandContext(guild=True, dm_channel=True),
            allowed_installs=app_commands.AppInstallationType(guild=True),
        )
        self.commands = commands
        for command in commands.build():
            self.add_command(command)

    async def interaction_check(self, interaction: Interaction, /) -> bool:
        """Let through only interactions whose options fit their command."""
        command = interaction.command
        data: Any = interaction.data
        if not isinstance(command, app_commands.Command) or not isinstance(data, dict):
            # Unknown commands go on to raise CommandNotFound, which on_error answers.
            return True
        autocomplete = interaction.type is discord.InteractionType.autocomplete
        problem = option_problem(command, data, autocomplete=autocomplete)
        if problem is None:
            return True
        log.info("rejected /%s from %s: %s", command.qualified_name, interaction.user.id, problem)
        try:
            if autocomplete:
                await interaction.response.autocomplete([])
            else:
                text = f"{problem}. Usage: `{usage(command)}`"
                await self.commands.send(interaction, Reply(text, ephemeral=True))
        except discord.HTTPException as exc:
            log.warning("could not answer a malformed /%s: %s", command.qualified_name, exc)
        return False

    async def on_error(
        self, interaction: Interaction, error: app_commands.AppCommandError, /
    ) -> None:
        """Answer any failure ephemerally; log the ones that are the bot's fault."""
        command = interaction.command
        if isinstance(error, app_commands.CommandNotFound):
            text = "This command is unknown here; see /help."
        elif isinstance(error, app_commands.CommandSignatureMismatch):
            text = "This command has just changed; Discord will show the new one in a moment."
        elif isinstance(error, app_commands.TransformerError) and isinstance(
            command, app_commands.Command
        ):
            text = f"That value does not fit. Usage: `{usage(command)}`"
        else:
            log.error("Discord command failed", exc_info=error)
            text = "Something went wrong on our side; it has been logged."
        try:
            if interaction.type is discord.InteractionType.autocomplete:
                if not interaction.response.is_done():
                    await interaction.response.autocomplete([])
                return
            await self.commands.send(interaction, Reply(text, ephemeral=True))
        except discord.HTTPException as exc:
            log.warning("could not report a failed command: %s", exc)
