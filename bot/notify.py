"""The contract between the dispatcher and every way of delivering an alert."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from bot.destinations import Destination, Scheme

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


class DeliveryError(Exception):
    """A notifier could not deliver; subclasses tell the dispatcher what to do next."""


class TransientDeliveryError(DeliveryError):
    """Try again later: network trouble, 5xx, flood control."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """The platform refused for good (blocked, kicked, not found): deactivate the destination."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DestinationMoved(DeliveryError):
    """The destination lives at a new address now (a Telegram group became a supergroup)."""

    def __init__(self, new_destination: Destination) -> None:
        super().__init__(f"moved to {new_destination}")
        self.new_destination = new_destination


class Notifier(Protocol):
    """Deliver alerts to one kind of destination."""

    scheme: Scheme

    async def send(self, destination: Destination, message: AlertMessage) -> None:
        """Deliver `message` or raise a `DeliveryError`; return only once the platform accepted it."""
        ...
