"""An alert event: what the engine decided, what the store recorded, what a notifier renders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from bot.model.rules import Rule

AlertState = Literal["firing", "resolved"]


@dataclass(frozen=True, slots=True)
class AlertMessage:
    """One alert event as a notifier sees it; front-ends render it their own way."""

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
    text: str

    @property
    def idempotency_key(self) -> str:
        return str(self.event_id)


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
    text: str

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
            text=self.text,
        )


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An alert the engine decided on, before it has an id."""

    rule: Rule
    kind: AlertState
    value: float
    previous: float | None
    source: str
    at: datetime
    text: str
