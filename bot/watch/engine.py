"""The rule engine at work: samples in, states and alert events with their outbox rows out."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.model.alerts import NOTICE_PREFIX, AlertState, FeedNotice, NewEvent
from bot.model.evaluation import RuleState, evaluate, seed_high
from bot.model.metrics import CATALOGUE, FEED_NOTICES, metric_info, register_pushed
from bot.model.regime import METRIC as REGIME_METRIC
from bot.model.regime import from_detail, settled
from bot.model.rules import Rule, RuleDefaults, RuleSpec, builtin_rules
from bot.storage import Store
from signals.types import FetchResult, Sample
from timing import WallClock

log = logging.getLogger(__name__)

# Another replica may add a custom rule; re-read them at least this often.
_CUSTOM_RULES_TTL = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class Fired:
    """An event the engine recorded."""

    event_id: int
    rule_id: str
    kind: str


def _kept(state: RuleState) -> RuleState:
    """Return the part of a rule's state the store keeps per rule (value and time are per metric)."""
    return replace(state, value=None, sample_at=None)


def custom_rule(rule_id: str, owner: str, spec: RuleSpec, defaults: RuleDefaults) -> Rule:
    """Build the `Rule` behind a chat's `/alert`."""
    band = 0.0 if spec.threshold is None else metric_info(spec.metric).hysteresis(spec.threshold)
    condition = (
        f"{spec.metric} new high"
        if spec.threshold is None
        else f"{spec.metric} {spec.op} {spec.threshold:.10g}"
    )
    return Rule(
        id=rule_id,
        metric=spec.metric,
        op=spec.op,
        threshold=spec.threshold,
        description=f"Custom alert: {condition}",
        band=band,
        for_duration=defaults.for_duration,
        repeat_interval=defaults.repeat_interval,
        send_resolved=defaults.send_resolved,
        owner=owner,
    )


class AlertEngine:
    """Evaluate every rule on each new sample and persist the outcome in one transaction."""

    def __init__(
        self,
        store: Store,
        defaults: RuleDefaults,
        clock: WallClock,
        on_queued: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._defaults = defaults
        self._clock = clock
        self._on_queued = on_queued
        self._builtins = builtin_rules(defaults)
        self._custom: tuple[Rule, ...] = ()
        self._custom_read_at: datetime | None = None

    @property
    def builtins(self) -> tuple[Rule, ...]:
        return self._builtins

    @property
    def defaults(self) -> RuleDefaults:
        return self._defaults

    async def rules(self) -> tuple[Rule, ...]:
        """Return every rule, built-in and custom, reading custom ones when the cache is old."""
        now = self._clock()
        if self._custom_read_at is None or now - self._custom_read_at > _CUSTOM_RULES_TTL:
            await self.reload()
        return self._builtins + self._custom

    async def reload(self) -> None:
        """Re-read the custom rules from the store."""
        rows = await self._store.custom_rule_rows()
        orphans = sorted({spec.metric for _, _, spec in rows if spec.metric not in CATALOGUE})
        if orphans:
            # A chat's alert on a pushed-in metric since dropped from INGEST_METRICS: keep it,
            # listed and removable, with a neutral entry; it fires again once the id is pushed.
            log.warning(
                "custom alerts watch %s, which INGEST_METRICS no longer lists; they stay idle",
                ", ".join(orphans),
            )
            register_pushed(orphans)
        self._custom = tuple(
            custom_rule(rule_id, owner, spec, self._defaults) for rule_id, owner, spec in rows
        )
        self._custom_read_at = self._clock()

    async def operator_notice(
        self, notice: FeedNotice, kind: AlertState, addresses: Sequence[str]
    ) -> None:
        """Record an operator event (a feed down: firing, back: resolved), queue it for `addresses`."""
        key = f"{NOTICE_PREFIX}{notice.feed}"
        rule = Rule(key, FEED_NOTICES, ">", None, f"Feed {notice.feed} is down")
        now = self._clock()
        event = NewEvent(rule, kind, 0.0, None, "radar", now, notice=notice)
        async with self._store.unit() as unit:
            (event_id,) = await unit.add_events([event], now)
            queued = await unit.fan_out_to(event_id, addresses, now)
        what = "down" if kind == "firing" else "back"
        log.warning(
            "feed %s %s: %s (notice queued for %d operators)",
            notice.feed,
            what,
            notice.error or "answers again",
            queued,
        )
        if queued:
            self._on_queued()

    async def ingest(self, result: FetchResult) -> list[Fired]:
        """Store a source's result and evaluate rules on each new sample, oldest first."""
        if result.history:
            await self._store.save_history(result.history)
        fired: list[Fired] = []
        for sample in sorted(result.samples, key=lambda s: s.at):
            fired.extend(await self.ingest_sample(sample))
        now = self._clock()
        for stale in result.stale:
            await self._store.mark_stale(stale.metric, stale.reason, now)
        return fired

    async def import_history(self, samples: Sequence[Sample]) -> None:
        """Store samples of one metric as history in one transaction; no rule is evaluated."""
        if not samples:
            return
        metrics = {s.metric for s in samples}
        highs = [r.id for r in await self.rules() if r.metric in metrics and r.op == "new high"]
        async with self._store.unit() as unit:
            for start in range(0, len(samples), 1000):
                await unit.save_samples(samples[start : start + 1000])
            if highs:
                # A record beaten by imported history would make the next close a false "new
                # high". A rule with no record yet seeds itself from all stored history anyway.
                top = max(s.value for s in samples)
                states = await unit.lock_states(highs, None)
                await unit.save_states(
                    {
                        rule_id: replace(state, high=top)
                        for rule_id, state in states.items()
                        if state.high is not None and state.high < top
                    }
                )

    async def ingest_sample(self, sample: Sample) -> list[Fired]:
        """Store one sample and, in the same transaction, every state change and alert it causes."""
        rules = [r for r in await self.rules() if r.metric == sample.metric]
        max_age = metric_info(sample.metric).max_age
        now = self._clock()
        async with self._store.unit() as unit:
            last = await unit.lock_latest(sample.metric)
            await unit.save_samples([sample])
            await unit.set_latest(sample, now)
            states = await unit.lock_states([r.id for r in rules], last)
            changed: dict[str, RuleState] = {}
            decided: list[NewEvent] = []
            for rule in rules:
                before = states[rule.id]
                state = before
                if rule.op == "new high" and state.high is None:
                    state = seed_high(state, await unit.high_before(rule.metric, sample.at))
                outcome = evaluate(rule, state, sample, now, max_age)
                if _kept(outcome.state) != _kept(before):
                    changed[rule.id] = outcome.state
                transition = outcome.transition
                if transition is not None:
                    # A regime alert is only useful with the signals that make up its score.
                    components = from_detail(sample.detail) if rule.metric == REGIME_METRIC else ()
                    previous = transition.previous
                    if (
                        rule.metric == REGIME_METRIC
                        and last is not None
                        and not settled(last.detail)
                    ):
                        # "Was 2 of 6" from a score with unknown parts (a warm-up, an outage)
                        # would report a change nobody saw.
                        previous = None
                    decided.append(
                        NewEvent(
                            rule,
                            transition.kind,
                            transition.value,
                            previous,
                            sample.source,
                            transition.at,
                            components,
                        )
                    )
            event_ids = await unit.add_events(decided, now)
            queued = await unit.fan_out(
                [(event_id, d.rule) for event_id, d in zip(event_ids, decided, strict=True)], now
            )
            await unit.save_states(changed)
        fired = [
            Fired(event_id, d.rule.id, d.kind)
            for event_id, d in zip(event_ids, decided, strict=True)
        ]
        for item in fired:
            log.info("rule %s %s: event %d", item.rule_id, item.kind, item.event_id)
        if queued:
            log.info("queued %d deliveries", queued)
            self._on_queued()
        return fired
