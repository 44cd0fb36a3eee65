"""The Discord front-end's lifecycle: a REST client for alerts, a gateway client for commands.

Alerts go out through a client that only logs in (REST) and never opens the gateway, so nothing
that happens to the gateway connection (a drop, a resume, a fatal close) can stop delivery.
Commands arrive through a second client on the gateway, inside the core's event loop; when the
gateway closes for good the front-end builds a fresh client and reconnects, backing off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp
import discord
import yarl
from discord.gateway import DiscordWebSocket

from bot.commands import CommandService
from bot.model.delivery import Notifier
from handlers.discord.commands import RadarCommands, RadarTree
from handlers.discord.notifier import DiscordNotifier
from handlers.discord.pacing import Pacer
from timing import Backoff, Sleep

log = logging.getLogger(__name__)

# discord.py gives up a request whose 429 asks for longer than this; the dispatcher then retries
# the alert later instead of a worker sleeping on it. discord.py accepts nothing under 30 s.
MAX_RATELIMIT_WAIT = 30.0
RECONNECT_BACKOFF = Backoff(base=5.0, cap=600.0)
_NETWORK_ERRORS = (aiohttp.ClientError, OSError, asyncio.TimeoutError)


class DiscordStartError(Exception):
    """The front-end could not log in: a bad token or an unreachable API."""


def point_discord_py_at(api_url: str, gateway_url: str) -> None:
    """Send discord.py's REST calls to `api_url` and its gateway connections to `gateway_url`.

    discord.py reads both from class attributes (public, but process-wide): every REST route,
    webhooks and interaction callbacks included, is built on `Route.BASE`, and a plain `Client`
    connects to `DiscordWebSocket.DEFAULT_GATEWAY` without asking `GET /gateway`. After READY it
    resumes at the `resume_gateway_url` the gateway itself announced.
    """
    discord.http.Route.BASE = api_url.rstrip("/")
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


async def _login(client: discord.Client, token: str) -> None:
    try:
        await client.login(token)
    except discord.LoginFailure:
        raise DiscordStartError("Discord refused DISCORD_TOKEN") from None
    except discord.HTTPException as exc:
        raise DiscordStartError(f"Discord answered HTTP {exc.status} to the login") from None
    except _NETWORK_ERRORS as exc:
        raise DiscordStartError(f"cannot reach the Discord API: {exc!r}") from None


async def _finish_ready_wait(client: discord.Client) -> None:
    """End discord.py's wait for the guilds after READY, which closing a client leaves running."""
    # discord.py 2.7 holds this task in a private attribute and does not cancel it on close; a
    # client closed within `guild_ready_timeout` of READY would leave it pending past its loop.
    task: asyncio.Task[None] | None = getattr(client._connection, "_ready_task", None)
    if task is not None and not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class DiscordFrontEnd:
    """Slash commands over the command service, and a notifier for `discord:` destinations."""

    name = "discord"

    def __init__(
        self,
        *,
        token: str,
        service: CommandService,
        api_url: str,
        gateway_url: str,
        guild_id: int | None = None,
        commands: RadarCommands | None = None,
        pacer: Pacer | None = None,
        guild_ready_timeout: float = 2.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._token = token
        self._api_url = api_url
        self._gateway_url = gateway_url
        self._guild_id = guild_id
        self._commands = commands or RadarCommands(service)
        self._guild_ready_timeout = guild_ready_timeout
        self._sleep = sleep
        self._notifier = DiscordNotifier(None, pacer, service.alert_charts)
        self.notifier: Notifier = self._notifier
        self.gateway: discord.Client | None = None
        self.tree: RadarTree | None = None
        self._rest_stack = contextlib.AsyncExitStack()
        self._gateway_stack = contextlib.AsyncExitStack()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        """Log in for REST, sync the commands, and connect to the gateway in the background."""
        point_discord_py_at(self._api_url, self._gateway_url)
        self._stopping = False
        # A fresh client at every start: a client closed by a failed start keeps a closed HTTP
        # session, and reusing it would fail every later start ("Session is closed").
        # It never opens the gateway, so its intents only keep discord.py from warning.
        rest = discord.Client(
            intents=discord.Intents(guilds=True), max_ratelimit_timeout=MAX_RATELIMIT_WAIT
        )
        await self._rest_stack.enter_async_context(rest)
        try:
            await _login(rest, self._token)
            client, tree = await self._open_gateway()
        except BaseException:
            await self._rest_stack.aclose()
            raise
        self._notifier.use(rest)
        await self._sync(tree)
        self._task = asyncio.create_task(self._run_gateway(client), name="discord-gateway")

    async def _open_gateway(self) -> tuple[discord.Client, RadarTree]:
        client = discord.Client(
            intents=discord.Intents(guilds=True),
            max_ratelimit_timeout=MAX_RATELIMIT_WAIT,
            guild_ready_timeout=self._guild_ready_timeout,
        )
        tree = RadarTree(client, self._commands)
        stack = contextlib.AsyncExitStack()
        await stack.enter_async_context(client)
        try:
            await _login(client, self._token)
        except BaseException:
            await stack.aclose()
            raise
        self.gateway, self.tree, self._gateway_stack = client, tree, stack
        return client, tree

    async def _close_gateway(self) -> None:
        stack, self._gateway_stack = self._gateway_stack, contextlib.AsyncExitStack()
        await stack.aclose()
        if self.gateway is not None:
            await _finish_ready_wait(self.gateway)

    async def _sync(self, tree: RadarTree) -> None:
        guild = discord.Object(id=self._guild_id) if self._guild_id is not None else None
        if guild is not None:
            tree.copy_global_to(guild=guild)
        try:
            synced = await tree.sync(guild=guild)
        except (discord.HTTPException, *_NETWORK_ERRORS) as exc:
            # Alerts do not need the commands; keep delivering and say why commands may be stale.
            log.error("could not sync Discord commands: %s", exc)
            return
        where = f"to guild {self._guild_id}" if guild is not None else "globally"
        log.info("synced %d Discord commands %s", len(synced), where)

    async def _run_gateway(self, client: discord.Client) -> None:
        # Never reset: a gateway that keeps closing, even after hours up, is asked less often.
        closes = 0
        while True:
            try:
                await client.connect(reconnect=True)
            except (discord.DiscordException, *_NETWORK_ERRORS) as exc:
                if self._stopping:
                    return
                closes += 1
                delay = RECONNECT_BACKOFF.delay(closes)
                log.error(
                    "Discord gateway closed (%s); commands are offline, alerts still go out. "
                    "Reconnecting in %.0f s",
                    exc,
                    delay,
                )
            else:
                if self._stopping:
                    return
                closes += 1
                delay = RECONNECT_BACKOFF.delay(closes)
                log.warning("Discord gateway closed; reconnecting in %.0f s", delay)
            await self._close_gateway()
            await self._sleep(delay)
            client = await self._reopen_gateway(closes + 1)

    async def _reopen_gateway(self, failures: int) -> discord.Client:
        """Return a fresh, logged-in gateway client; discord.py cannot reopen a closed one.

        A failed login counts on from `failures`, so its waits continue the gateway's backoff.
        """
        while True:
            try:
                client, _ = await self._open_gateway()
            except DiscordStartError as exc:
                delay = RECONNECT_BACKOFF.delay(failures)
                log.error(
                    "Discord login for the gateway failed (%s); retrying in %.0f s", exc, delay
                )
            else:
                return client
            await self._sleep(delay)
            failures += 1

    async def wait_until_ready(self) -> None:
        """Wait until the gateway client has received READY and its guilds."""
        if self.gateway is None:
            raise RuntimeError("the Discord front-end has not been started")
        await self.gateway.wait_until_ready()

    async def stop(self) -> None:
        """Close the gateway and REST clients; safe to call twice."""
        self._stopping = True
        task, self._task = self._task, None
        if self.gateway is not None:
            await self.gateway.close()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._close_gateway()
        await self._rest_stack.aclose()
