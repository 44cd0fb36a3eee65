"""Storage: the database, one module per entity, and the `Store` facade the rest of the bot uses."""

from bot.storage.database import StoreUnavailable
from bot.storage.store import Store, Unit

__all__ = ["Store", "StoreUnavailable", "Unit"]
