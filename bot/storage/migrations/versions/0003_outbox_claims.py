"""Add claims to the outbox (who is sending a row, until when) and an index per destination.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.storage.schema import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the two nullable columns (existing rows start unclaimed) and the per-destination index."""
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("claim_until", UTCDateTime(), nullable=True))
    pending = sa.text("status = 'pending'")
    op.create_index(
        "ix_outbox_pending_destination",
        "outbox",
        ["destination_id", "id"],
        sqlite_where=pending,
        postgresql_where=pending,
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_outbox_pending_destination", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("claim_until")
        batch.drop_column("claimed_by")
