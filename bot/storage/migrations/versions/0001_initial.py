"""Create the initial schema.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.storage.schema import BigId, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create every table of the first release."""
    op.create_table(
        "samples",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.UniqueConstraint("metric", "at", name="uq_samples_metric_at"),
    )
    op.create_table(
        "latest",
        sa.Column("metric", sa.String(64), primary_key=True),
        sa.Column("value", sa.Float),
        sa.Column("at", UTCDateTime()),
        sa.Column("source", sa.String(64)),
        sa.Column("detail", sa.JSON),
        sa.Column("stale_reason", sa.Text),
        sa.Column("checked_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "coin_closes",
        sa.Column("coin_id", sa.String(128), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("close", sa.Float, nullable=False),
    )
    op.create_table(
        "custom_rules",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("owner", sa.String(512), nullable=False),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("op", sa.String(16), nullable=False),
        sa.Column("threshold", sa.Float),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_custom_rules_owner", "custom_rules", ["owner"])
    op.create_table(
        "rule_state",
        sa.Column("rule_id", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("armed", sa.Boolean, nullable=False),
        sa.Column("since", UTCDateTime()),
        sa.Column("notified_at", UTCDateTime()),
        sa.Column("high", sa.Float),
    )
    op.create_table(
        "events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("previous", sa.Float),
        sa.Column("threshold", sa.Float),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    )
    op.create_index("ix_events_rule_id", "events", ["rule_id"])
    op.create_table(
        "destinations",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("address", sa.String(512), nullable=False, unique=True),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("muted_until", UTCDateTime()),
        sa.Column("deactivated_reason", sa.Text),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "subscriptions",
        sa.Column(
            "destination_id",
            BigId,
            sa.ForeignKey("destinations.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("rule_id", sa.String(64), primary_key=True),
    )
    op.create_index("ix_subscriptions_rule", "subscriptions", ["rule_id"])
    op.create_table(
        "outbox",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("event_id", BigId, nullable=False),
        sa.Column("destination_id", BigId, nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime()),
    )
    pending = sa.text("status = 'pending'")
    op.create_index(
        "ix_outbox_pending", "outbox", ["id"], sqlite_where=pending, postgresql_where=pending
    )
    op.create_table(
        "deliveries",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "destination_id",
            BigId,
            sa.ForeignKey("destinations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "event_id", BigId, sa.ForeignKey("events.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("sent_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_deliveries_destination", "deliveries", ["destination_id", "id"])


def downgrade() -> None:
    """Drop every table."""
    for table in (
        "deliveries",
        "outbox",
        "subscriptions",
        "destinations",
        "events",
        "rule_state",
        "custom_rules",
        "coin_closes",
        "latest",
        "samples",
    ):
        op.drop_table(table)
