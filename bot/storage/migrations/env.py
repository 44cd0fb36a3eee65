"""Alembic environment: runs on the connection the store hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from bot.storage.schema import metadata

connection: Connection | None = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run migrations through bot.storage.store.migrate, which supplies the connection"
    )

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
