"""Hold alerts instead of dropping them: quiet hours and time zones per destination, held rows.

Nothing existing changes meaning: every column is new and nullable, so old rows read as never
held, and destinations as UTC without quiet hours.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the destination settings, the outbox's and delivery log's `held`, and its index."""
    # add_column, not a batch: SQLite adds a nullable column in place, and copying `outbox` or
    # `deliveries` would cascade-delete their rows through the foreign keys (see 0004).
    op.add_column("destinations", sa.Column("time_zone", sa.String(64)))
    op.add_column("destinations", sa.Column("quiet_start", sa.Integer))
    op.add_column("destinations", sa.Column("quiet_end", sa.Integer))
    op.add_column("destinations", sa.Column("quiet_zone", sa.String(64)))
    op.add_column("outbox", sa.Column("held", sa.String(8)))
    op.add_column("deliveries", sa.Column("held", sa.String(8)))
    held = sa.text("status = 'held'")
    op.create_index(
        "ix_outbox_held", "outbox", ["destination_id"], sqlite_where=held, postgresql_where=held
    )


def downgrade() -> None:
    """Send what is still held as ordinary alerts, then drop the columns."""
    op.execute("UPDATE outbox SET status = 'pending' WHERE status = 'held'")
    op.drop_index("ix_outbox_held", table_name="outbox")
    for table, column in (
        ("deliveries", "held"),
        ("outbox", "held"),
        ("destinations", "quiet_zone"),
        ("destinations", "quiet_end"),
        ("destinations", "quiet_start"),
        ("destinations", "time_zone"),
    ):
        # Plain ALTER TABLE (SQLite 3.35+ has DROP COLUMN): a batch copy of `destinations` would
        # cascade-delete subscriptions and the delivery log.
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
