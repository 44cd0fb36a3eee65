"""The composition root: build every part from `Settings`, run them in one loop, stop in order."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

import aiohttp

from bot.charts.alerts import AlertCharts
from bot.commands.frontend import FrontEnd
from bot.commands.service import CommandService
from bot.delivery.dispatcher import Dispatcher
from bot.delivery.notifiers import ConsoleNotifier, WebhookNotifier
from bot.model.alerts import FeedNotice
from bot.model.checks import prepare_catalogue
from bot.model.metrics import CATALOGUE
from bot.model.rules import ALL_BUILTINS, RuleDefaults
from bot.settings import FRONT_END_SETTINGS, Settings
from bot.storage import Store
from bot.watch.engine import AlertEngine
from bot.watch.pollers import Poller
from bot.watch.regime import RegimeSource
from bot.web.health import build_app, start_server
from bot.web.ingest import IngestConfig, add_ingest_routes
from signals.types import Source
from signals.universe import AsiUniverse, UniverseSource
from timing import Backoff, WallClock, utcnow

log = logging.getLogger(__name__)

SourceFactory = Callable[[Settings, aiohttp.ClientSession, Store], Sequence[Source]]

# Past these, a row still being sent is abandoned at shutdown (it stays pending and goes out after
# the restart) and a front-end is left to close with the process: the whole stop stays inside the
# 10 s a platform allows after SIGTERM.
_DISPATCH_GRACE = 5.0
_FRONTEND_STOP = 3.0
_PRUNE_EVERY = timedelta(hours=1)
_CHECKPOINT_EVERY = 30.0
_FRONTEND_RETRY = Backoff(base=5.0, cap=300.0)


class _Redact(logging.Filter):
    """Blank out secrets wherever a library puts them in a log line (URLs, mostly)."""

    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        if any(secret in message for secret in self._secrets):
            for secret in self._secrets:
                message = message.replace(secret, "<redacted>")
            record.msg, record.args = message, None
        return True


def configure_logging(settings: Settings) -> None:
    """Log to stderr at LOG_LEVEL, with every configured secret redacted."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    secrets = [
        s.get_secret_value()
        for s in (settings.telegram.token, settings.discord.token, settings.coingecko_api_key)
        if s is not None
    ]
    handler.addFilter(_Redact(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # httpx logs every request URL at INFO, and Telegram's URLs carry the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def rule_defaults(settings: Settings) -> RuleDefaults:
    """Return the rule defaults the settings ask for."""
    repeat = (
        timedelta(hours=settings.rule_repeat_hours)
        if settings.rule_repeat_hours is not None
        else None
    )
    return RuleDefaults(
        for_duration=timedelta(seconds=settings.rule_for_seconds),
        repeat_interval=repeat,
        send_resolved=settings.rule_send_resolved,
    )


def operator_addresses(settings: Settings) -> list[str]:
    """Return where operator notices go: the console and each Telegram admin's private chat."""
    # A Telegram user's private chat has the user's id; Discord needs a DM channel we do not have.
    telegram = [
        f"telegram:{a.split(':', 1)[1]}" for a in settings.admin_ids if a.startswith("telegram:")
    ]
    return ["console", *telegram]


def load_frontends(settings: Settings, service: CommandService) -> list[FrontEnd]:
    """Import and build the chat front-ends whose tokens are set; only here is `handlers` named."""
    frontends: list[FrontEnd] = []
    for name in FRONT_END_SETTINGS:
        own = getattr(settings, name)
        if own.token is None or not own.token.get_secret_value():
            continue
        module = importlib.import_module(f"handlers.{name}")
        # Each front-end sees only its own settings model.
        frontends.append(module.build_frontend(own, service))
    return frontends


# Whose <SOURCE>_POLL_SECONDS paces a source, when not its own (as each source declares).
POLL_KEYS = {spec.name: spec.poll_key for spec in CATALOGUE.sources if spec.poll_key}


def default_sources(
    settings: Settings, session: aiohttp.ClientSession, store: Store
) -> Sequence[Source]:
    """Build the live feeds and the regime score computed from them."""
    from bot.watch.feeds import build_sources  # noqa: PLC0415  (feeds pull in pandas; CLI paths skip it)

    return (*build_sources(settings, session, store), RegimeSource(store, name="regime"))


def asi_universe_of(sources: Sequence[Source]) -> Callable[[], AsiUniverse | None]:
    """Return what asks the ASI source of `sources` for its universe (None without one)."""
    keeper = next((s for s in sources if isinstance(s, UniverseSource)), None)
    return keeper.asi_universe if keeper is not None else lambda: None


@runtime_checkable
class Closable(Protocol):
    """A source holding connections of its own (ccxt keeps one session per exchange)."""

    async def close(self) -> None: ...


async def close_sources(sources: Sequence[Source]) -> None:
    """Close the sources that hold connections of their own; a failure is logged, not raised."""
    closing = [source for source in sources if isinstance(source, Closable)]
    results = await asyncio.gather(*(s.close() for s in closing), return_exceptions=True)
    for source, result in zip(closing, results, strict=True):
        if isinstance(result, Exception):
            log.warning("source %s did not close cleanly: %s", source.name, result)


@dataclass
class Service:
    """The running parts, kept together so shutdown can take them apart in order."""

    settings: Settings
    store: Store
    session: aiohttp.ClientSession
    engine: AlertEngine
    dispatcher: Dispatcher
    commands: CommandService
    pollers: list[Poller]
    frontends: list[FrontEnd] = field(default_factory=list)


def settle_memory() -> None:
    """Leave what start-up built out of every later full garbage collection.

    A full collection stops the event loop for as long as it walks every tracked object: about
    50 ms over the ~100,000 a started bot holds (70 ms once charts have loaded matplotlib). A
    stall that long bunches paced Telegram sends enough to draw a 429; frozen, those objects are
    no longer walked. Freed by reference counting as before; only cycle collection skips them.
    """
    gc.collect()
    gc.freeze()


def declared_metrics(source: str) -> tuple[str, ...]:
    """Return the metric ids the catalogue says `source` publishes."""
    return next((spec.ids for spec in CATALOGUE.sources if spec.name == source), ())


async def build_service(
    settings: Settings,
    clock: WallClock = utcnow,
    sources: SourceFactory = default_sources,
) -> Service:
    """Check the catalogue, open the store and build every part, started nothing yet."""
    # Pushed-in metrics join the catalogue; an id a rule or derived metric names but nobody
    # declares stops the start here (CatalogueError), before anything opens.
    prepare_catalogue(settings.ingest_metrics)
    store = await Store.open(settings.async_database_url, pool_size=settings.dispatch_workers + 4)
    session = aiohttp.ClientSession()
    dispatcher = Dispatcher(
        store,
        {"console": ConsoleNotifier(), "webhook": WebhookNotifier(session)},
        clock,
        workers=settings.dispatch_workers,
        max_attempts=settings.dispatch_max_attempts,
        lease=timedelta(seconds=settings.delivery_lease_seconds),
    )
    engine = AlertEngine(store, rule_defaults(settings), clock, on_queued=dispatcher.wake)
    await engine.reload()
    built = sources(settings, session, store)
    commands = CommandService(
        store,
        engine,
        clock,
        operators=settings.admin_ids,
        max_custom_rules=settings.max_custom_rules_per_chat,
        pushed_metrics=settings.ingest_metrics,
        health=lambda: [p.health for p in pollers],
        asi_universe=asi_universe_of(built),
        on_released=dispatcher.wake,
        chart_max_days=settings.sample_retention_days,
        alert_charts=AlertCharts(store, engine.rules) if settings.alert_charts else None,
    )
    if await store.destination("console") is None:
        await store.subscribe("console", [ALL_BUILTINS], clock())

    def failing_since(name: str) -> datetime | None:
        poller = next((p for p in pollers if p.source.name == name), None)
        return poller.health.failing_since if poller is not None else None

    async def source_down(name: str, reason: str) -> None:
        notice = FeedNotice(name, failing_since(name), reason)
        await engine.operator_notice(notice, "firing", operator_addresses(settings))

    async def source_up(name: str) -> None:
        notice = FeedNotice(name, failing_since(name))
        await engine.operator_notice(notice, "resolved", operator_addresses(settings))

    pollers = [
        Poller(
            source,
            settings.poll_interval(POLL_KEYS.get(source.name, source.name)),
            engine.ingest,
            lambda metric, reason: store.mark_stale(metric, reason, clock()),
            clock,
            down_after=timedelta(minutes=settings.stale_alert_minutes),
            on_down=source_down,
            on_recovered=source_up,
            metrics=declared_metrics(source.name),
        )
        for source in built
    ]
    return Service(settings, store, session, engine, dispatcher, commands, pollers)


async def _maintain_until(stop: asyncio.Event, service: Service, clock: WallClock) -> None:
    """Check the database file, checkpoint often and prune old rows hourly, until `stop`."""
    retention = timedelta(days=service.settings.sample_retention_days)
    pruned_at = clock()
    failing: str | None = None
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), _CHECKPOINT_EVERY)
        if stop.is_set():
            return
        try:
            service.store.check_file()
            await service.store.checkpoint()
            if clock() - pruned_at >= _PRUNE_EVERY:
                pruned_at = clock()
                await service.store.prune(pruned_at, retention)
        except Exception as exc:
            # Log once when maintenance starts failing and once when it works again.
            if failing is None:
                log.error("database maintenance failing: %s", exc)
            failing = str(exc)
            continue
        if failing is not None:
            log.warning("database maintenance works again")
            failing = None


async def run(
    settings: Settings,
    stop: asyncio.Event | None = None,
    clock: WallClock = utcnow,
    sources: SourceFactory = default_sources,
) -> None:
    """Run the service until `stop` is set or SIGTERM/SIGINT arrives, then stop in order."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    service = await build_service(settings, clock, sources)
    runner = None
    try:
        service.frontends = load_frontends(settings, service.commands)
        health = build_app(service.store, lambda: [p.health for p in service.pollers], clock)
        add_ingest_routes(
            health, IngestConfig.from_settings(settings), service.engine.ingest_sample, clock
        )
        runner = await start_server(health, settings.port, settings.host)
        settle_memory()
        log.info(
            "Risk-On Radar running: %d sources, front-ends: %s, health on %s:%d",
            len(service.pollers),
            ", ".join(f.name for f in service.frontends) or "console only",
            settings.host,
            settings.port,
        )
        await _run_until_stopped(service, stop, clock)
    finally:
        if runner is not None:
            await runner.cleanup()
        await close_sources([p.source for p in service.pollers])
        await service.session.close()
        await service.store.close()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)
    log.info("stopped cleanly")


async def _stop_frontend(frontend: FrontEnd) -> None:
    try:
        await asyncio.wait_for(frontend.stop(), _FRONTEND_STOP)
    except Exception:
        log.exception("front-end %s did not stop cleanly", frontend.name)


async def _start_frontend(frontend: FrontEnd, dispatcher: Dispatcher, stop: asyncio.Event) -> None:
    """Start a front-end, retrying with backoff: a platform down at start comes up later."""
    failures = 0
    while not stop.is_set():
        try:
            await frontend.start()
        except Exception as exc:
            # One platform failing must not take the others, or the alerts, down.
            failures += 1
            delay = _FRONTEND_RETRY.delay(failures)
            log.warning(
                "front-end %s failed to start (%s); retrying in %.0f s", frontend.name, exc, delay
            )
        else:
            # Deliver to this platform only once it is up; until then its rows wait queued.
            dispatcher.add_notifier(frontend.notifier)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)


async def _run_until_stopped(service: Service, stop: asyncio.Event, clock: WallClock) -> None:
    polling_stop = asyncio.Event()
    async with asyncio.TaskGroup() as group:
        dispatching = group.create_task(service.dispatcher.run(), name="dispatcher")
        polling = [
            group.create_task(p.run(polling_stop), name=f"poll-{p.source.name}")
            for p in service.pollers
        ]
        polling.append(
            group.create_task(_maintain_until(polling_stop, service, clock), name="maintain")
        )
        starting = [
            group.create_task(
                _start_frontend(frontend, service.dispatcher, polling_stop),
                name=f"start-{frontend.name}",
            )
            for frontend in service.frontends
        ]
        await stop.wait()
        log.info("stopping: pollers, then deliveries in flight, then front-ends")
        polling_stop.set()
        for task in starting:
            # A start still hanging (a platform unreachable) is abandoned; stop() tidies up.
            task.cancel()
        await asyncio.wait(polling + starting)
        # Deliveries in flight finish first, while their platforms are still connected.
        await service.dispatcher.stop()
        done, _ = await asyncio.wait({dispatching}, timeout=_DISPATCH_GRACE)
        if not done:
            log.warning("a delivery did not finish in %.0f s; it stays queued", _DISPATCH_GRACE)
            dispatching.cancel()
        await asyncio.gather(*(_stop_frontend(f) for f in service.frontends))
