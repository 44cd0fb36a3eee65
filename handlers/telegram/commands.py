"""Chat commands and inline buttons: parse, check authority, call the service, render the answer."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ExtBot,
    MessageHandler,
    filters,
)

from bot.commands import BY_NAME, COMMANDS, Caller, CommandError, CommandService, RuleInfo
from bot.model.destinations import Destination
from bot.model.text import strip_invisible
from handlers.telegram.authority import (
    AdminCache,
    AuthorityUnavailable,
    Origin,
    button_origin,
    message_origin,
)
from handlers.telegram.render import (
    caption_fits,
    escape,
    render_alert_added,
    render_alert_removed,
    render_alerts,
    render_backtest,
    render_chart_caption,
    render_help,
    render_history,
    render_mute,
    render_quiet,
    render_rules,
    render_start,
    render_status,
    render_subscribe_menu,
    render_subscription,
    render_time_zone,
    render_unmute,
    split_html,
)

log = logging.getLogger(__name__)

_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
# A reply that meets flood control is tried once more after the pause; alerts are not (the
# dispatcher retries those).
_REPLY_RETRIES = 1
_CALLBACK_DATA_MAX = 64
_ANSWER_MAX = 200
_UNAVAILABLE = "Telegram could not confirm your admin rights just now; try again in a minute."
# Commands are taken from new messages and channel posts, never from edits of old ones.
_COMMAND_UPDATES = filters.UpdateType.MESSAGE | filters.UpdateType.CHANNEL_POST


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer to send: HTML text and, optionally, inline buttons under its last part."""

    text: str
    keyboard: InlineKeyboardMarkup | None = None
    # A PNG to send as a photo, `text` its caption.
    photo: bytes | None = None
    filename: str = "chart.png"


Answer = Callable[[Origin, list[str]], Awaitable[Reply]]


class ChatCommands:
    """The Telegram side of every command in `bot.commands.COMMANDS`."""

    def __init__(self, service: CommandService, admins: AdminCache, bot: ExtBot[int]) -> None:
        self._service = service
        self._admins = admins
        self._bot = bot
        self.failures = 0
        self._answers: dict[str, Answer] = {
            "start": self._start,
            "help": self._help,
            "status": self._status,
            "rules": self._rules,
            "subscribe": self._subscribe,
            "unsubscribe": self._unsubscribe,
            "alert": self._alert,
            "alerts": self._alerts,
            "mute": self._mute,
            "unmute": self._unmute,
            "history": self._history,
            "quiet": self._quiet,
            "timezone": self._timezone,
            "backtest": self._backtest,
            "chart": self._chart,
        }
        missing = {c.name for c in COMMANDS} ^ set(self._answers)
        if missing:
            raise RuntimeError(f"commands and their Telegram answers disagree: {sorted(missing)}")

    def handlers(self) -> list[BaseHandler[Update, Any, None]]:
        """Return the PTB handlers to register, most specific first."""
        return [
            CommandHandler(list(self._answers), self._on_command, filters=_COMMAND_UPDATES),
            CallbackQueryHandler(self._on_button),
            MessageHandler(filters.StatusUpdate.MIGRATE, self._on_migrate),
            MessageHandler(
                filters.COMMAND & filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE,
                self._on_unknown,
            ),
        ]

    async def on_error(self, update: object, context: Any) -> None:
        """Log a handler failure once; PTB keeps processing other updates."""
        self.failures += 1
        update_id = update.update_id if isinstance(update, Update) else None
        log.error("handling Telegram update %s failed", update_id, exc_info=context.error)

    # incoming updates

    async def _on_command(self, update: Update, _context: object) -> None:
        message = update.effective_message
        if message is None or not message.text:
            return
        parsed = parse_command(message)
        if parsed is None:
            return
        name, args = parsed
        origin = message_origin(message)
        reply = await self._answer(name, origin, args)
        await self.send(origin, reply)

    async def _answer(self, name: str, origin: Origin, args: list[str]) -> Reply:
        answer = self._answers.get(name)
        if answer is None:
            # PTB matched the entity, so this cannot happen; still never a KeyError.
            return Reply(f"Unknown command /{escape(name[:40])}. /help lists what I understand.")
        try:
            return await answer(origin, args)
        except AuthorityUnavailable as exc:
            log.warning("could not read the admins of chat %d: %s", origin.chat_id, exc)
            return Reply(escape(_UNAVAILABLE))
        except CommandError as exc:
            return Reply(escape(exc.message))

    async def _on_unknown(self, update: Update, _context: object) -> None:
        message = update.effective_message
        if message is None or not message.text:
            return
        parsed = parse_command(message)
        command = f"/{parsed[0]}" if parsed is not None else message.text.split()[0]
        text = f"Unknown command {escape(command[:40])}. /help lists what I understand."
        await self.send(message_origin(message), Reply(text))

    async def _on_migrate(self, update: Update, _context: object) -> None:
        message = update.effective_message
        if message is None or message.migrate_to_chat_id is None:
            return
        old = Destination("telegram", str(message.chat.id))
        new = Destination("telegram", str(message.migrate_to_chat_id))
        self._admins.forget(message.chat.id)
        await self._service.move_destination(old, new)
        log.info("Telegram group %s became supergroup %s; its subscriptions moved", old, new)

    async def _on_button(self, update: Update, _context: object) -> None:
        query = update.callback_query
        if query is None:
            return
        message = query.message
        action, _, rule_id = (query.data or "").partition(":")
        if not isinstance(message, Message):
            await _toast(query, "This menu has expired: send /subscribe again.")
            return
        if action not in ("sub", "unsub") or not rule_id:
            await _toast(query, "That button is not mine.")
            return
        origin = button_origin(message, query.from_user)
        try:
            caller = await self._caller(origin, manage=True)
            if action == "sub":
                change = await self._service.subscribe(caller, [rule_id])
            else:
                change = await self._service.unsubscribe(caller, [rule_id])
        except AuthorityUnavailable:
            await _toast(query, _UNAVAILABLE)
            return
        except CommandError as exc:
            await _toast(query, exc.message)
            return
        done = change.added or change.removed
        verb = "Subscribed to" if action == "sub" else "Unsubscribed from"
        await _toast(query, f"{verb} {', '.join(done)}" if done else "No change.")
        rules = await self._service.rules(caller)
        try:
            await self._bot.edit_message_text(
                render_subscribe_menu(rules),
                chat_id=message.chat.id,
                message_id=message.message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=_rules_keyboard(rules),
                rate_limit_args=_REPLY_RETRIES,
            )
        except TelegramError as exc:
            # Two quick presses can ask for the same menu twice; the second changes nothing.
            if "not modified" not in exc.message:
                log.warning("could not refresh the menu in chat %d: %s", origin.chat_id, exc)

    # answers, one per command

    async def _caller(self, origin: Origin, *, manage: bool) -> Caller:
        """Return the service's view of the sender; ask Telegram about admins only if needed."""
        can_manage = False
        if manage:
            can_manage = self._service.is_operator(origin.user) or await self._admins.may_manage(
                origin
            )
        return Caller(origin.destination, origin.user, can_manage)

    async def _start(self, origin: Origin, args: list[str]) -> Reply:
        return Reply(render_start())

    async def _help(self, origin: Origin, args: list[str]) -> Reply:
        return Reply(render_help())

    async def _status(self, origin: Origin, args: list[str]) -> Reply:
        metric = args[0] if args else None
        report = await self._service.status(metric)
        zone = await self._service.time_zone(await self._caller(origin, manage=False))
        return Reply(render_status(report, metric, zone))

    async def _rules(self, origin: Origin, args: list[str]) -> Reply:
        caller = await self._caller(origin, manage=False)
        return Reply(render_rules(await self._service.rules(caller)))

    async def _subscribe(self, origin: Origin, args: list[str]) -> Reply:
        if not args:
            return await self._menu(origin)
        caller = await self._caller(origin, manage=True)
        return Reply(render_subscription(await self._service.subscribe(caller, args)))

    async def _unsubscribe(self, origin: Origin, args: list[str]) -> Reply:
        if not args:
            return await self._menu(origin)
        caller = await self._caller(origin, manage=True)
        return Reply(render_subscription(await self._service.unsubscribe(caller, args)))

    async def _menu(self, origin: Origin) -> Reply:
        rules = await self._service.rules(await self._caller(origin, manage=False))
        return Reply(render_subscribe_menu(rules), _rules_keyboard(rules))

    async def _alert(self, origin: Origin, args: list[str]) -> Reply:
        if not args:
            raise CommandError(f"usage: {BY_NAME['alert'].usage}")
        caller = await self._caller(origin, manage=True)
        if args[0].lower() == "remove":
            if len(args) != 2:
                raise CommandError("usage: /alert remove <id>; /alerts lists the ids")
            await self._service.remove_alert(caller, args[1])
            return Reply(render_alert_removed(args[1]))
        return Reply(render_alert_added(await self._service.add_alert(caller, " ".join(args))))

    async def _alerts(self, origin: Origin, args: list[str]) -> Reply:
        caller = await self._caller(origin, manage=False)
        return Reply(render_alerts(await self._service.list_alerts(caller)))

    async def _mute(self, origin: Origin, args: list[str]) -> Reply:
        if not args:
            raise CommandError(f"usage: {BY_NAME['mute'].usage}")
        caller = await self._caller(origin, manage=True)
        return Reply(render_mute(await self._service.mute(caller, " ".join(args))))

    async def _unmute(self, origin: Origin, args: list[str]) -> Reply:
        return Reply(
            render_unmute(await self._service.unmute(await self._caller(origin, manage=True)))
        )

    async def _history(self, origin: Origin, args: list[str]) -> Reply:
        caller = await self._caller(origin, manage=False)
        events = await self._service.history(caller, args[0] if args else None)
        return Reply(render_history(events, await self._service.time_zone(caller)))

    async def _quiet(self, origin: Origin, args: list[str]) -> Reply:
        # Only a change asks Telegram who the admins are; showing the hours is for anyone.
        caller = await self._caller(origin, manage=bool(args))
        return Reply(render_quiet(await self._service.quiet(caller, args)))

    async def _timezone(self, origin: Origin, args: list[str]) -> Reply:
        if not args:
            caller = await self._caller(origin, manage=False)
            return Reply(render_time_zone(await self._service.show_time_zone(caller)))
        caller = await self._caller(origin, manage=True)
        return Reply(render_time_zone(await self._service.set_time_zone(caller, " ".join(args))))

    async def _backtest(self, origin: Origin, args: list[str]) -> Reply:
        caller = await self._caller(origin, manage=False)
        found = await self._service.backtest(caller, args)
        png = await self._service.backtest_chart(found)
        return Reply(render_backtest(found), photo=png, filename="backtest.png")

    async def _chart(self, origin: Origin, args: list[str]) -> Reply:
        if not args or len(args) > 2:
            raise CommandError(f"usage: {BY_NAME['chart'].usage}, e.g. /chart asi 90")
        caller = await self._caller(origin, manage=False)
        report = await self._service.chart(caller, args[0], args[1] if len(args) > 1 else None)
        return Reply(render_chart_caption(report), photo=report.png, filename=report.filename)

    # sending

    async def send(self, origin: Origin, reply: Reply) -> None:
        """Send `reply` to where the command came from, split as Telegram requires."""
        if reply.photo is not None:
            await self._send_photo(origin, reply, reply.photo)
            return
        parts = split_html(reply.text)
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            try:
                await self._bot.send_message(
                    origin.chat_id,
                    part,
                    parse_mode=ParseMode.HTML,
                    message_thread_id=origin.thread_id,
                    reply_markup=reply.keyboard if last else None,
                    link_preview_options=_NO_PREVIEW,
                    rate_limit_args=_REPLY_RETRIES,
                )
            except TelegramError as exc:
                # A chat that kicked or blocked the bot cannot be answered; nothing else to do.
                log.warning("could not answer in Telegram chat %d: %s", origin.chat_id, exc)
                return

    async def _send_photo(self, origin: Origin, reply: Reply, photo: bytes) -> None:
        # A caption past Telegram's 1,024 characters would be refused: the text then follows
        # as its own message.
        fits = caption_fits(reply.text)
        try:
            await self._bot.send_photo(
                origin.chat_id,
                InputFile(photo, filename=reply.filename),
                caption=reply.text if fits else None,
                parse_mode=ParseMode.HTML if fits else None,
                message_thread_id=origin.thread_id,
                rate_limit_args=_REPLY_RETRIES,
            )
        except TelegramError as exc:
            log.warning("could not send a chart to Telegram chat %d: %s", origin.chat_id, exc)
            return
        if not fits:
            await self.send(origin, Reply(reply.text))


def parse_command(message: Message) -> tuple[str, list[str]] | None:
    """Return the command name and its arguments, read from the message's `bot_command` entity.

    Telegram's entity covers `/name` or `/name@bot` only, so whatever follows it (a zero-width
    space glued to the name, say) is argument text, never part of the name. Invisible format
    characters (Unicode Cf: zero-width spaces and joiners, word joiners, byte-order marks,
    direction marks, soft hyphens) are stripped from the arguments deliberately: they come with
    copy-paste and the reader cannot see them. Returns None without a leading command entity.
    """
    text = message.text
    entity = message.entities[0] if message.entities else None
    if not text or entity is None or entity.type != MessageEntity.BOT_COMMAND or entity.offset:
        return None
    # Entity offsets count UTF-16 code units, as Telegram does.
    units = text.encode("utf-16-le")
    command = units[: entity.length * 2].decode("utf-16-le", "replace")
    rest = units[entity.length * 2 :].decode("utf-16-le", "replace")
    name = command[1:].split("@", 1)[0].lower()
    return name, strip_invisible(rest).split()


async def _toast(query: CallbackQuery, text: str) -> None:
    """Answer a button press with a short notice; a press too old to answer is let go."""
    try:
        await query.answer(text[:_ANSWER_MAX])
    except TelegramError as exc:
        log.info("could not answer a button press: %s", exc)


def _rules_keyboard(rules: Sequence[RuleInfo]) -> InlineKeyboardMarkup:
    rows = [
        [
            InlineKeyboardButton(
                f"✅ {rule.id}" if rule.subscribed else f"➕ {rule.id}",
                callback_data=data,
            )
        ]
        for rule in rules
        if not rule.custom
        and len((data := f"{'unsub' if rule.subscribed else 'sub'}:{rule.id}").encode())
        <= _CALLBACK_DATA_MAX
    ]
    rows.append(
        [
            InlineKeyboardButton("All", callback_data="sub:all"),
            InlineKeyboardButton("None", callback_data="unsub:all"),
        ]
    )
    return InlineKeyboardMarkup(rows)
