"""An alert event: what the engine decided, what the store recorded, what a notifier renders.

An alert is data, never pre-written text: each front-end (console, webhook, Telegram, Discord)
words it its own way from these fields, with the shared formatters of `bot.model.formatting`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from bot.model.metrics import FEED_NOTICES, Lean, lean_of, opposite
from bot.model.regime import Reading, Verdict, component_label
from bot.model.rules import ALL_OPS, Op, Rule, op_rises

AlertState = Literal["firing", "resolved"]
# Which way a rule's metric moves when the rule fires.
Direction = Literal["rise", "fall"]
# How an alert looks: every front-end marks it, and Discord colours it, by its tone. A rule's
# alert is risk-on or risk-off by what its metric's move means (`MetricInfo.rising`), a
# resolution the opposite of its firing; a rule on a metric without a known meaning is `alert`
# when it fires and `resolved` when it ends; operator notices are `down` and `back`.
Tone = Literal["risk-on", "risk-off", "alert", "resolved", "down", "back"]
TONE_MARKS: dict[Tone, str] = {
    "risk-on": "🟢",
    "risk-off": "🔴",
    "alert": "🔵",
    "resolved": "⚪",
    "down": "⚠️",
    "back": "✅",
}
# Discord's embed colour for each tone: the same colour as the tone's mark.
TONE_COLOURS: dict[Tone, int] = {
    "risk-on": 0x2ECC71,
    "risk-off": 0xE74C3C,
    "alert": 0x3498DB,
    "resolved": 0x95A5A6,
    "down": 0xE67E22,
    "back": 0x2ECC71,
}
# The rule id and metric of operator notices about a feed.
NOTICE_PREFIX = "source-down:"
NOTICE_METRIC = FEED_NOTICES


def direction_of(op: Op | None) -> Direction | None:
    """Return the direction a rule with `op` fires on; None when the op is unknown."""
    if op is None:
        return None
    return "rise" if op_rises(op) else "fall"


def lean_tone(lean: Lean | None) -> Tone:
    """Return the tone of a firing rule whose move means `lean` (None: no known meaning)."""
    return "alert" if lean is None else lean


@dataclass(frozen=True, slots=True)
class FeedNotice:
    """The facts of an operator notice: a feed down (firing) or answering again (resolved)."""

    feed: str
    since: datetime | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class AlertMessage:
    """One alert event as a notifier sees it; front-ends render it their own way.

    `op` and `threshold` are the rule's condition, `direction` whether it fires on a rise or a
    fall (None for notices, and for events recorded before the condition was kept), `previous`
    the value before (the previous high for `new high` rules). A `risk_on` alert carries the
    regime's `components`; an operator notice carries its `notice` instead of a rule's numbers.
    """

    event_id: int
    rule_id: str
    rule_description: str
    state: AlertState
    metric: str
    value: float
    threshold: float | None
    previous: float | None
    source: str
    at: datetime
    op: Op | None
    direction: Direction | None
    components: tuple[Reading, ...] = ()
    notice: FeedNotice | None = None

    @property
    def idempotency_key(self) -> str:
        return str(self.event_id)

    @property
    def kind(self) -> Literal["rule", "notice"]:
        return "notice" if self.notice is not None else "rule"

    @property
    def fired_on(self) -> Direction:
        """Return the way the rule's metric moved when it fired."""
        if self.direction is not None:
            return self.direction
        # An old event without its condition: the way the value moved is the next best guess.
        reference = self.previous if self.previous is not None else self.threshold
        moved_down = reference is not None and self.value < reference
        if self.state == "resolved":
            # A resolution moves back: a value now above where it was had fallen to fire.
            moved_down = reference is not None and self.value > reference
        return "fall" if moved_down else "rise"

    @property
    def lean(self) -> Lean | None:
        """Return what this alert means for the rotation thesis; None when nothing is known.

        A firing means what its metric's move means; a resolution the opposite, a move toward
        risk-off when a risk-on signal ends. Notices have no lean.
        """
        if self.notice is not None:
            return None
        lean = lean_of(self.metric, self.fired_on == "rise")
        if lean is None or self.state == "firing":
            return lean
        return opposite(lean)

    @property
    def tone(self) -> Tone:
        """Return how to mark this alert: by its lean, else its state."""
        if self.notice is not None:
            return "down" if self.state == "firing" else "back"
        lean = self.lean
        if lean is None:
            return "resolved" if self.state == "resolved" else "alert"
        return lean

    @property
    def mark(self) -> str:
        return TONE_MARKS[self.tone]

    @property
    def colour(self) -> int:
        return TONE_COLOURS[self.tone]


def encode_detail(
    components: tuple[Reading, ...], notice: FeedNotice | None
) -> dict[str, Any] | None:
    """Return the JSON an event keeps of its regime components or notice facts."""
    detail: dict[str, Any] = {}
    if components:
        detail["components"] = [
            {"key": r.key, "verdict": r.verdict, "note": r.note} for r in components
        ]
    if notice is not None:
        detail["notice"] = {
            "feed": notice.feed,
            "since": notice.since.isoformat() if notice.since is not None else None,
            "error": notice.error,
        }
    return detail or None


def decode_detail(
    detail: Mapping[str, Any] | None,
) -> tuple[tuple[Reading, ...], FeedNotice | None]:
    """Read back `encode_detail`'s JSON; anything malformed is left out rather than failing."""
    if not isinstance(detail, Mapping):
        return (), None
    components: list[Reading] = []
    for item in detail.get("components") or ():
        if not isinstance(item, Mapping) or not isinstance(item.get("key"), str):
            continue
        key = item["key"]
        raw_verdict = item.get("verdict")
        verdict: Verdict = (
            "yes" if raw_verdict == "yes" else "no" if raw_verdict == "no" else "unknown"
        )
        components.append(Reading(key, component_label(key), verdict, str(item.get("note") or "")))
    notice = None
    raw = detail.get("notice")
    if isinstance(raw, Mapping) and isinstance(raw.get("feed"), str):
        since = raw.get("since")
        error = raw.get("error")
        notice = FeedNotice(
            feed=raw["feed"],
            since=datetime.fromisoformat(since) if isinstance(since, str) else None,
            error=error if isinstance(error, str) else None,
        )
    return tuple(components), notice


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An alert event as recorded."""

    id: int
    rule_id: str
    kind: AlertState
    metric: str
    value: float
    previous: float | None
    threshold: float | None
    source: str
    at: datetime
    description: str
    op: Op | None
    components: tuple[Reading, ...] = ()
    notice: FeedNotice | None = None

    def message(self) -> AlertMessage:
        """Return the notifier's view of this event."""
        return AlertMessage(
            event_id=self.id,
            rule_id=self.rule_id,
            rule_description=self.description,
            state=self.kind,
            metric=self.metric,
            value=self.value,
            threshold=self.threshold,
            previous=self.previous,
            source=self.source,
            at=self.at,
            op=self.op,
            direction=None if self.notice is not None else direction_of(self.op),
            components=self.components,
            notice=self.notice,
        )


def parse_op(text: object) -> Op | None:
    """Return a stored op, or None when there is none (or it is not one this version knows)."""
    return next((op for op in ALL_OPS if op == text), None)


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An alert the engine decided on, before it has an id."""

    rule: Rule
    kind: AlertState
    value: float
    previous: float | None
    source: str
    at: datetime
    components: tuple[Reading, ...] = ()
    notice: FeedNotice | None = None
