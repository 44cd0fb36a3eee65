"""Keep each sample's detail (the regime's components), so a chart can show them day by day.

A new nullable column: existing samples read as having no detail.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add `samples.detail`."""
    # add_column, not a batch: SQLite adds a nullable column in place, without copying the table.
    op.add_column("samples", sa.Column("detail", sa.JSON(none_as_null=True)))


def downgrade() -> None:
    """Drop it."""
    with op.batch_alter_table("samples") as batch:
        batch.drop_column("detail")
