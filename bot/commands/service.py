"""The transport-agnostic core of every chat command; front-ends only parse and render."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta, tzinfo

from bot.charts import ChartError, draw
from bot.charts.data import backtest_chart_spec, chart_spec
from bot.commands.backtests import resolve_rule, run_backtest, usage_error
from bot.commands.reports import (
    Caller,
    ChartReport,
    CommandError,
    EventInfo,
    MetricStatus,
    MuteInfo,
    NotAllowed,
    QuietInfo,
    RegimeStatus,
    RuleInfo,
    StatusReport,
    SubscriptionChange,
    TimeZoneInfo,
    UniverseCoin,
    UniverseExclusion,
    UniverseStatus,
    UnmuteInfo,
)
from bot.model.alerts import HistoryEntry
from bot.model.backtest import Backtest
from bot.model.delivery import ChartSource
from bot.model.destinations import Destination, DestinationInfo
from bot.model.evaluation import RuleState, condition_holds
from bot.model.formatting import format_age
from bot.model.metrics import CATALOGUE, METRICS, LatestValue, metric_info, register_pushed
from bot.model.quiet import (
    BadQuietHours,
    BadZone,
    QuietHours,
    parse_quiet,
    parse_zone,
    zone_name,
    zone_or_utc,
)
from bot.model.regime import METRIC as REGIME_METRIC
from bot.model.regime import bounds as regime_bounds
from bot.model.regime import from_detail
from bot.model.rules import ALL_BUILTINS, Rule, RuleSyntaxError, parse_rule
from bot.model.text import digit_problem, strip_invisible
from bot.storage import Store
from bot.watch.engine import AlertEngine
from bot.watch.pollers import SourceHealth
from signals.specs.coingecko import MarketsMetric
from signals.universe import AsiUniverse
from timing import WallClock

log = logging.getLogger(__name__)

# ASCII digits only: `\d` and int() also take other scripts' digits.
_DURATION = re.compile(r"^([0-9]{1,6})\s*(m|min|mins|minutes?|h|hours?|d|days?|w|weeks?)?$")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
_MAX_MUTE = timedelta(days=30)
_MAX_HISTORY = 50
_ALL = "all"
_COUNT = re.compile(r"[0-9]{1,3}")
_OFF = "off"
_QUIET_USAGE = "Usage: /quiet <HH:MM-HH:MM> [zone] | off, e.g. /quiet 23:00-07:00 Europe/Berlin"
_ZONE_USAGE = "Usage: /timezone <IANA zone>, e.g. /timezone Europe/Berlin"
_YEARS = re.compile(r"[0-9]{1,3}")
_MAX_YEARS = 50
_YEAR = timedelta(days=365.25)
CHART_DAYS = 90
_DAYS = re.compile(r"[0-9]{1,4}")


def parse_duration(text: str) -> timedelta:
    """Parse `30m`, `2h`, `1d`, `1w` (a bare number means minutes) into a `timedelta`."""
    text = strip_invisible(text)
    problem = digit_problem(text.strip(), "a duration")
    if problem is not None:
        raise CommandError(f"{problem}, e.g. 30m, 2h, 1d or 1w")
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise CommandError(f"{text[:40]!r} is not a duration: use e.g. 30m, 2h, 1d or 1w")
    unit = (match.group(2) or "m")[0]
    duration = timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[unit])
    if duration <= timedelta(0) or duration > _MAX_MUTE:
        raise CommandError("mute for between 1 minute and 30 days")
    return duration


def universe_status(universe: AsiUniverse | None) -> UniverseStatus:
    """Return the ASI source's universe as the report front-ends render."""
    if universe is None:
        return UniverseStatus(None)
    return UniverseStatus(
        universe.at,
        universe.bitcoin_change,
        tuple(UniverseCoin(c.symbol.upper(), c.name, c.change) for c in universe.coins),
        tuple(UniverseExclusion(e.symbol.upper(), e.name, e.reason) for e in universe.excluded),
    )


def _regime_status(value: LatestValue | None, now: datetime) -> RegimeStatus | None:
    if value is None or value.value is None or value.at is None:
        return None
    stale = value.stale_reason is not None or now - value.at > metric_info(REGIME_METRIC).max_age
    return RegimeStatus(int(value.value), from_detail(value.detail), value.at, stale)


class CommandService:
    """Answer commands from any front-end, enforcing who may change a chat."""

    def __init__(
        self,
        store: Store,
        engine: AlertEngine,
        clock: WallClock,
        *,
        operators: Sequence[str] = (),
        max_custom_rules: int = 20,
        pushed_metrics: Sequence[str] = (),
        health: Callable[[], Sequence[SourceHealth]] = tuple,
        asi_universe: Callable[[], AsiUniverse | None] | None = None,
        on_released: Callable[[], None] = lambda: None,
        chart_max_days: int = 400,
        alert_charts: ChartSource | None = None,
    ) -> None:
        self._store = store
        # What draws each alert's chart for the chat front-ends' notifiers; None: text only.
        self.alert_charts = alert_charts
        # How the feeds are doing, for saying why a metric has no value.
        self._health = health
        # In memory, from the ASI source of this process; None where no source keeps one.
        self._asi_universe = asi_universe or (lambda: None)
        # Metrics pushed in through /ingest count as metrics for /status and /alert too.
        self._metrics = (*METRICS, *(m for m in pushed_metrics if m not in METRICS))
        self._engine = engine
        self._clock = clock
        self._operators = frozenset(operators)
        self._max_custom_rules = max_custom_rules
        # Held alerts let go by a command are due at once: the dispatcher need not wait its poll.
        self._on_released = on_released
        # Samples older than their retention are gone: a longer chart would only be empty.
        self._chart_max_days = chart_max_days

    def is_operator(self, user: str) -> bool:
        """Return True when `user` (e.g. `telegram:123`) is listed in ADMIN_IDS."""
        return user in self._operators

    def _authorize(self, caller: Caller) -> None:
        if not (caller.can_manage or self.is_operator(caller.user)):
            raise NotAllowed("Only this chat's administrators can change its alerts.")

    # --- reading -------------------------------------------------------------------------------

    async def metric_ids(self) -> tuple[str, ...]:
        """Return every metric id a rule can watch."""
        return self._metrics

    async def rule_ids(self, caller: Caller | None = None) -> tuple[str, ...]:
        """Return the ids a caller can subscribe to: built-ins and the chat's own custom rules."""
        return tuple(r.id for r in await self._visible_rules(caller))

    async def _visible_rules(self, caller: Caller | None) -> list[Rule]:
        rules = list(self._engine.builtins)
        if caller is not None:
            address = caller.destination.address
            rules += [r for r in await self._engine.rules() if r.owner == address]
        return rules

    async def status(self, metric: str | None = None) -> StatusReport:
        """Return current values with age and source, and the rules now firing."""
        now = self._clock()
        if metric is not None and not metric.strip():
            metric = None
        if metric is not None:
            metric = metric.strip().lower()
            if metric not in self._metrics:
                raise CommandError(
                    f"unknown metric {metric[:40]!r}: try one of {', '.join(self._metrics)}"
                )
        latest = await self._store.latest_values()
        feeds = {m: h for h in self._health() for m in h.metrics}
        universe = universe_status(self._asi_universe()) if metric == MarketsMetric.ASI else None
        rows = [
            self._metric_status(
                m, latest.get(m), feeds.get(m), now, detailed=_shows_detail(metric, universe)
            )
            for m in ([metric] if metric else self._metrics)
        ]
        states = await self._store.rule_states()
        firing = tuple(
            self._info(rule, states.get(rule.id), latest=latest, now=now)
            for rule in await self._engine.rules()
            if rule.owner is None
            and (s := states.get(rule.id)) is not None
            and s.state == "firing"
            and (metric is None or rule.metric == metric)
        )
        regime = None
        if metric in (None, REGIME_METRIC):
            regime = _regime_status(latest.get(REGIME_METRIC), now)
        on_metric: tuple[RuleInfo, ...] = ()
        if metric is not None:
            on_metric = tuple(
                self._info(rule, states.get(rule.id), latest=latest, now=now)
                for rule in self._engine.builtins
                if rule.metric == metric
            )
        return StatusReport(tuple(rows), firing, now, regime, rules=on_metric, universe=universe)

    def _metric_status(
        self,
        metric: str,
        value: LatestValue | None,
        feed: SourceHealth | None,
        now: datetime,
        *,
        detailed: bool,
    ) -> MetricStatus:
        """Return one metric's row: its value and age, or why there is none."""
        info = metric_info(metric)
        if value is None or value.value is None or value.at is None:
            why = _why_no_value(metric, value, feed, now)
            return MetricStatus(
                metric, info.label, None, "no data yet", None, None, None, True, why
            )
        age = now - value.at
        stale = value.stale_reason is not None or age > info.max_age
        reason = None
        if stale:
            reason = _failing(feed, now) or value.stale_reason or f"no update for {format_age(age)}"
        return MetricStatus(
            metric=metric,
            label=info.label,
            value=value.value,
            formatted=_formatted(value),
            at=value.at,
            age=age,
            source=value.source,
            stale=stale,
            stale_reason=reason,
            # The regime's components show as its own block, not as raw detail.
            detail=value.detail if detailed and metric != REGIME_METRIC else (),
        )

    def _info(
        self,
        rule: Rule,
        state: RuleState | None,
        subscribed: bool = False,
        *,
        latest: Mapping[str, LatestValue] | None = None,
        now: datetime | None = None,
    ) -> RuleInfo:
        name = state.state if state is not None else "inactive"
        value = None if latest is None or now is None else _fresh_value(latest, rule.metric, now)
        holds = None
        if value is not None:
            holds = condition_holds(rule, value.value or 0.0, _bounds(value))
            if name == "firing":
                holds = True
        return RuleInfo(
            rule.id,
            rule.description,
            rule.metric,
            rule.condition,
            rule.custom,
            name,
            subscribed,
            rule.lean,
            value=None if value is None else _formatted(value),
            holds=holds,
            since=state.since if state is not None and name == "firing" else None,
        )

    async def rules(self, caller: Caller | None = None) -> tuple[RuleInfo, ...]:
        """Return the built-in rules (and the caller's custom ones), marking subscriptions."""
        states = await self._store.rule_states()
        latest = await self._store.latest_values()
        now = self._clock()
        subscribed: set[str] = set()
        if caller is not None:
            found = await self._store.destination(caller.destination.address)
            if found is not None and found.active:
                subscribed = set(found.rule_ids)
        return tuple(
            self._info(
                rule,
                states.get(rule.id),
                rule.id in subscribed or (not rule.custom and ALL_BUILTINS in subscribed),
                latest=latest,
                now=now,
            )
            for rule in await self._visible_rules(caller)
        )

    async def list_alerts(self, caller: Caller) -> tuple[RuleInfo, ...]:
        """Return this chat's custom alerts."""
        return tuple(r for r in await self.rules(caller) if r.custom)

    async def history(self, caller: Caller, count: str | None = None) -> tuple[EventInfo, ...]:
        """Return the last `count` alerts sent to this chat, newest first."""
        n = 10
        if count is not None and strip_invisible(count).strip():
            text = strip_invisible(count).strip()
            problem = digit_problem(text, "a count")
            if problem is not None:
                raise CommandError(f"{problem}. Usage: /history [n], n from 1 to {_MAX_HISTORY}")
            if not _COUNT.fullmatch(text) or not 1 <= int(text) <= _MAX_HISTORY:
                raise CommandError(f"usage: /history [n], n from 1 to {_MAX_HISTORY}")
            n = int(text)
        found = await self._store.history(caller.destination.address, n)
        retired = sorted({e.event.metric for e in found if e.event.metric not in CATALOGUE})
        if retired:
            # Alerts on a pushed-in metric since dropped from INGEST_METRICS still show.
            log.warning("history shows %s, no longer catalogued", ", ".join(retired))
            register_pushed(retired)
        return tuple(_event_info(e) for e in found)

    async def chart(
        self, caller: Caller | None, metric: str | None, days: str | None = None
    ) -> ChartReport:
        """Draw `metric` over the last `days` with its built-in rules and the chat's own."""
        usage = f"usage: /chart <metric> [days], days from 1 to {self._chart_max_days}, e.g. /chart asi 90"
        name = strip_invisible(metric or "").strip().lower()
        if not name:
            raise CommandError(usage)
        if name not in self._metrics:
            raise CommandError(
                f"unknown metric {name[:40]!r}: try one of {', '.join(self._metrics)}"
            )
        span = CHART_DAYS
        text = strip_invisible(days or "").strip().lower().removesuffix("d")
        if text:
            problem = digit_problem(text, "a number of days")
            if problem is not None:
                raise CommandError(f"{problem}. {usage}")
            if not _DAYS.fullmatch(text) or not 1 <= int(text) <= self._chart_max_days:
                raise CommandError(usage)
            span = int(text)
        rules = [r for r in await self._visible_rules(caller) if r.metric == name]
        now = self._clock()
        spec = await chart_spec(self._store, name, rules, now - timedelta(days=span), now)
        if spec is None:
            raise CommandError(
                f"No {name} values stored in the last {span} days: nothing to draw yet."
            )
        try:
            image = await draw(spec)
        except ChartError as exc:
            log.warning("chart of %s failed: %s", name, exc)
            raise CommandError(
                f"Could not draw the {name} chart just now; it has been logged."
            ) from None
        info = metric_info(name)
        last = spec.points[-1]
        return ChartReport(
            metric=name,
            label=info.label,
            png=image.png,
            width=image.width,
            height=image.height,
            days=span,
            value=info.format(last.value),
            at=last.at,
            provider=spec.provider,
            rules=tuple(r.id for r in rules),
            fired=sum(m.state == "firing" for m in spec.markers),
            resolved=sum(m.state == "resolved" for m in spec.markers),
        )

    # --- changing ------------------------------------------------------------------------------

    async def _resolve_ids(self, caller: Caller, rule_ids: Sequence[str]) -> list[str]:
        words = [w.strip().lower() for w in rule_ids if w.strip()]
        if not words:
            raise CommandError("usage: /subscribe <rule> [rule ...] or /subscribe all; see /rules")
        if _ALL in words:
            return [ALL_BUILTINS]
        known = set(await self.rule_ids(caller))
        unknown = [w for w in words if w not in known]
        if unknown:
            raise CommandError(f"unknown rule {unknown[0][:40]!r}: see /rules for the ids")
        return list(dict.fromkeys(words))

    async def _current(self, address: str) -> tuple[str, ...]:
        found = await self._store.destination(address)
        if found is None:
            return ()
        return tuple(_ALL if r == ALL_BUILTINS else r for r in found.rule_ids)

    async def subscribe(self, caller: Caller, rule_ids: Sequence[str]) -> SubscriptionChange:
        """Subscribe the caller's chat to rules (`all` for every built-in rule)."""
        self._authorize(caller)
        ids = await self._resolve_ids(caller, rule_ids)
        address = caller.destination.address
        added = await self._store.subscribe(address, ids, self._clock())
        shown = tuple(_ALL if r == ALL_BUILTINS else r for r in added)
        # A subscription starts now: say what is already true, or the chat would never know.
        new = set(added)
        already = tuple(
            r
            for r in await self.rules(caller)
            if r.already_true and (r.id in new or (ALL_BUILTINS in new and not r.custom))
        )
        return SubscriptionChange(shown, (), await self._current(address), already)

    async def unsubscribe(self, caller: Caller, rule_ids: Sequence[str]) -> SubscriptionChange:
        """Remove subscriptions; `all` removes every one, custom alerts' included."""
        self._authorize(caller)
        address = caller.destination.address
        words = [w.strip().lower() for w in rule_ids if w.strip()]
        if not words:
            raise CommandError("usage: /unsubscribe <rule> [rule ...] or /unsubscribe all")
        if _ALL in words:
            removed = await self._store.unsubscribe(address, None)
        else:
            ids = await self._resolve_ids(caller, words)
            current = await self._store.destination(address)
            subscribed = current.rule_ids if current is not None else ()
            builtin_ids = {r.id for r in self._engine.builtins}
            expanded = builtin_ids & set(ids) if ALL_BUILTINS in subscribed else set()
            if expanded:
                # "All but these": spell the rest out so the others keep arriving.
                rest = [r for r in builtin_ids - expanded if r not in subscribed]
                await self._store.replace_all(address, sorted(rest))
            removed = await self._store.unsubscribe(address, ids)
            removed = tuple(sorted(set(removed) | expanded))
        shown = tuple(_ALL if r == ALL_BUILTINS else r for r in removed)
        return SubscriptionChange((), shown, await self._current(address))

    async def add_alert(self, caller: Caller, spec: str) -> RuleInfo:
        """Create a custom rule for the caller's chat from `<metric> <op> <value>`."""
        self._authorize(caller)
        try:
            parsed = parse_rule(spec, frozenset(self._metrics))
        except RuleSyntaxError as exc:
            raise CommandError(f"{exc}. Usage: /alert <metric> <op> <value>") from None
        address = caller.destination.address
        rule_id = await self._store.add_custom_rule(
            address, parsed, self._clock(), self._max_custom_rules
        )
        if rule_id is None:
            raise CommandError(
                f"this chat has {self._max_custom_rules} custom alerts already; "
                "remove one with /alert remove <id>"
            )
        await self._engine.reload()
        rule = next(r for r in await self._engine.rules() if r.id == rule_id)
        latest = await self._store.latest_values()
        now = self._clock()
        info = self._info(rule, None, subscribed=True, latest=latest, now=now)
        if info.value is None:
            feeds = {m: h for h in self._health() for m in h.metrics}
            status = self._metric_status(
                rule.metric, latest.get(rule.metric), feeds.get(rule.metric), now, detailed=False
            )
            info = replace(info, no_data=status.stale_reason or "no fresh value")
        # Whoever sets an alert wants to know how often it would have spoken.
        return replace(info, backtest=await run_backtest(self._store, rule))

    async def backtest(self, caller: Caller | None, args: Sequence[str]) -> Backtest:
        """Replay a rule (an id, or `<metric> <op> <value>`) on the stored history, `[years]` back."""
        words = [w for w in (strip_invisible(a).strip() for a in args) if w]
        if not words:
            raise usage_error("name a rule or a condition")
        rules = await self._visible_rules(caller)
        metrics = frozenset(self._metrics)
        years = None
        try:
            rule = resolve_rule(words, rules, metrics, self._engine.defaults)
        except RuleSyntaxError as exc:
            # A trailing whole number that spoils the condition is the number of years.
            if len(words) < 2 or not _YEARS.fullmatch(words[-1]):
                raise usage_error(exc) from None
            try:
                rule = resolve_rule(words[:-1], rules, metrics, self._engine.defaults)
            except RuleSyntaxError:
                raise usage_error(exc) from None
            years = int(words[-1])
            if not 1 <= years <= _MAX_YEARS:
                raise usage_error(f"years must be from 1 to {_MAX_YEARS}") from None
        start = None if years is None else self._clock() - years * _YEAR
        return await run_backtest(self._store, rule, start)

    async def backtest_chart(self, result: Backtest) -> bytes | None:
        """Draw a backtest: its metric, its rule's level, a marker per firing; None if it cannot."""
        spec = await backtest_chart_spec(self._store, result)
        if spec is None:
            return None
        try:
            return (await draw(spec)).png
        except ChartError as exc:
            # The summary still goes out; the chart is a bonus.
            log.warning("backtest chart of %s failed: %s", result.rule.id, exc)
            return None

    async def remove_alert(self, caller: Caller, rule_id: str) -> None:
        """Delete one of this chat's custom alerts."""
        self._authorize(caller)
        rule_id = rule_id.strip().lower()
        if not await self._store.remove_custom_rule(caller.destination.address, rule_id):
            raise CommandError(f"no custom alert {rule_id[:40]!r} here: see /alerts for the ids")
        await self._engine.reload()

    async def _settings(self, caller: Caller) -> DestinationInfo | None:
        return await self._store.destination(caller.destination.address)

    async def time_zone(self, caller: Caller) -> tzinfo:
        """Return the zone times are shown in to the caller's chat (UTC unless set)."""
        found = await self._settings(caller)
        return zone_or_utc(found.time_zone if found is not None else None)

    async def mute(self, caller: Caller, duration: str) -> MuteInfo:
        """Hold this chat's alerts for a while; what fires meanwhile goes out in one summary after."""
        self._authorize(caller)
        until = self._clock() + parse_duration(duration)
        await self._store.set_mute(caller.destination.address, until, self._clock())
        return MuteInfo(until, await self.time_zone(caller))

    async def unmute(self, caller: Caller) -> UnmuteInfo:
        """Resume alerts here; what the mute held goes out in one summary now."""
        self._authorize(caller)
        now = self._clock()
        released = await self._store.set_mute(caller.destination.address, None, now)
        if released:
            self._on_released()
        found = await self._settings(caller)
        quiet = found.quiet if found is not None else None
        return UnmuteInfo(released, quiet if quiet is not None and quiet.contains(now) else None)

    async def quiet(self, caller: Caller, words: Sequence[str]) -> QuietInfo:
        """Show the quiet hours (no words), switch them `off`, or set `<HH:MM-HH:MM> [zone]`."""
        words = [w for w in (w.strip() for w in words) if w]
        if not words:
            found = await self._settings(caller)
            return QuietInfo(found.quiet if found is not None else None)
        self._authorize(caller)
        quiet: QuietHours | None = None
        if [w.lower() for w in words] != [_OFF]:
            quiet = await self._parse_quiet(caller, " ".join(words))
        released = await self._store.set_quiet(caller.destination.address, quiet, self._clock())
        if released:
            self._on_released()
        return QuietInfo(quiet, released)

    async def _parse_quiet(self, caller: Caller, text: str) -> QuietHours:
        start, dash, rest = strip_invisible(text).partition("-")
        end, _, zone_text = rest.strip().partition(" ")
        try:
            if not dash:
                raise BadQuietHours(f"{text[:40]!r} has no dash between start and end")
            zone = parse_zone(zone_text) if zone_text.strip() else await self.time_zone(caller)
            return parse_quiet(f"{start.strip()}-{end}", zone)
        except (BadQuietHours, BadZone) as exc:
            raise CommandError(f"{exc}. {_QUIET_USAGE}") from None

    async def show_time_zone(self, caller: Caller) -> TimeZoneInfo:
        """Return the zone this chat's times are shown in."""
        return TimeZoneInfo(await self.time_zone(caller), self._clock())

    async def set_time_zone(self, caller: Caller, name: str) -> TimeZoneInfo:
        """Show every time in this chat in the IANA zone `name`."""
        self._authorize(caller)
        text = strip_invisible(name).strip()
        if not text:
            raise CommandError(_ZONE_USAGE)
        try:
            zone = parse_zone(text)
        except BadZone as exc:
            raise CommandError(f"{exc}. {_ZONE_USAGE}") from None
        await self._store.set_time_zone(caller.destination.address, zone_name(zone), self._clock())
        return TimeZoneInfo(zone, self._clock())

    async def move_destination(self, old: Destination, new: Destination) -> None:
        """Carry a chat's subscriptions, mute and custom alerts to its new address."""
        await self._store.move_destination(old.address, new.address)
        await self._engine.reload()


def _fresh_value(
    latest: Mapping[str, LatestValue], metric: str, now: datetime
) -> LatestValue | None:
    """Return the metric's latest value if it is fresh, else None."""
    value = latest.get(metric)
    if value is None or value.value is None or value.at is None or value.stale_reason:
        return None
    if metric not in CATALOGUE or now - value.at > metric_info(metric).max_age:
        return None
    return value


def _formatted(value: LatestValue) -> str:
    """Return the value as its metric formats it, with a score's unknown parts counted."""
    text = metric_info(value.metric).format(value.value or 0.0)
    bounds = _bounds(value)
    if bounds is not None and bounds[1] > bounds[0]:
        text += f", {bounds[1] - bounds[0]:.0f} unknown"
    return text


def _bounds(value: LatestValue) -> tuple[float, float] | None:
    """Return where a score with unknown parts may lie (the regime), None for an exact value."""
    if value.metric != REGIME_METRIC or value.value is None:
        return None
    return regime_bounds(value.value, value.detail)


def _failing(feed: SourceHealth | None, now: datetime) -> str | None:
    """Return "failing for 5m: <reason>" while the metric's feed fails, else None."""
    if feed is None or feed.failing_since is None:
        return None
    return f"{feed.name} failing for {format_age(now - feed.failing_since)}: {feed.last_error}"


def _why_no_value(
    metric: str, value: LatestValue | None, feed: SourceHealth | None, now: datetime
) -> str:
    """Return why `metric` has no value: warming up, its feed failing, or not polled yet."""
    if feed is not None and feed.warming:
        return f"warming up: {feed.warming}"
    failing = _failing(feed, now)
    if failing:
        return failing
    if value is not None and value.stale_reason:
        return value.stale_reason
    if metric in CATALOGUE.pushed:
        return "nothing pushed to /ingest yet"
    if feed is not None and feed.last_attempt is None:
        return "the first refresh has not finished yet"
    return "no value yet"


def _shows_detail(metric: str | None, universe: UniverseStatus | None) -> bool:
    """Tell whether one metric's stored detail is shown: not where a block says it better."""
    if metric is None or metric == REGIME_METRIC:
        return False  # the regime's components show as its own block
    # The universe names every coin with its change, the winners the detail lists among them.
    return universe is None or not universe.computed


def _event_info(entry: HistoryEntry) -> EventInfo:
    return EventInfo(entry.event.message(), entry.handling)
