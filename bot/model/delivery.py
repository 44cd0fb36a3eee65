"""The contract between the dispatcher and every way of delivering an alert."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bot.model.alerts import AlertMessage, StoredEvent
from bot.model.destinations import Destination, Scheme


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


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One pending delivery: an event for a destination."""

    id: int
    destination_id: int
    destination: Destination
    attempts: int
    event: StoredEvent


@dataclass(frozen=True, slots=True)
class Sent:
    """The platform accepted the message."""


@dataclass(frozen=True, slots=True)
class Retry:
    """Try the same row again after `delay`."""

    delay: timedelta
    error: str


@dataclass(frozen=True, slots=True)
class Refused:
    """The destination refused for good: deactivate it."""

    reason: str


@dataclass(frozen=True, slots=True)
class Moved:
    """The destination has a new address; deliver there."""

    new: Destination


DeliveryOutcome = Sent | Retry | Refused | Moved


@dataclass(frozen=True, slots=True)
class Claimed:
    """A row a worker holds until `until`: past that, another worker may take it over."""

    item: OutboxItem
    until: datetime


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one claimed row, and when the platform answered."""

    item: OutboxItem
    result: DeliveryOutcome
    at: datetime
