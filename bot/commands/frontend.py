"""What the composition root needs from a chat front-end, without importing one."""

from __future__ import annotations

from typing import Protocol

from bot.model.delivery import Notifier


class FrontEnd(Protocol):
    """A chat platform: it answers commands and delivers alerts through its notifier."""

    name: str
    notifier: Notifier

    async def start(self) -> None:
        """Connect and begin answering commands; return once running in the background."""
        ...

    async def stop(self) -> None:
        """Stop answering commands and close connections; idempotent, and safe after a failed start."""
        ...
