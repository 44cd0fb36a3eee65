"""Keep alerts as data: events gain the rule's `op` and a `detail` JSON; `text` becomes legacy.

Front-ends word each alert themselves from the event's fields, so new events carry no text. The
`text` column stays, nullable, holding what events recorded before this revision said; nothing
reads it any more. Old events get their rule's operator back where it is known: built-in rules
from the catalogue as it stood at this revision, custom rules from their row, and operator
notices their feed's name.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# The built-in rules' operators at this revision (frozen here: a migration never imports the
# catalogue it would outlive).
_BUILTIN_OPS = {
    "asi-above-50": "crosses above",
    "altseason": ">=",
    "bitcoin-season": "<=",
    "btc-dominance-below-59": "crosses below",
    "rut-new-high": "new high",
    "rut-beats-spx-9": ">=",
    "eth-btc-rising": "crosses above",
    "btc-100k": "crosses above",
    "eth-5200": "crosses above",
    "sol-280": "crosses above",
    "alt-longs-dominate": "crosses above",
    "alt-volume-surge": ">=",
    "altbtc-macd-bullish": "crosses above",
    "altbtc-rsi-oversold": "<",
    "liquidity-rising": ">",
    "etf-inflow-streak": ">=",
    "risk-on-regime": ">=",
}
_NOTICE_PREFIX = "source-down:"
# Tables with a foreign key to events (ON DELETE CASCADE).
_REFERRING = ("deliveries", "outbox")

_events = sa.table(
    "events",
    sa.column("id", sa.Integer),
    sa.column("rule_id", sa.String),
    sa.column("op", sa.String),
    sa.column("detail", sa.JSON),
)


def upgrade() -> None:
    """Add `op` and `detail`, make `text` nullable, and fill in what old events imply."""
    op.add_column("events", sa.Column("op", sa.String(16)))
    op.add_column("events", sa.Column("detail", sa.JSON))
    _make_text_nullable()
    _backfill()


def _make_text_nullable() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        op.alter_column("events", "text", existing_type=sa.Text, nullable=True)
        return
    # SQLite changes a column only by copying the table. Dropping the old copy deletes its rows
    # first, and with foreign keys on (they cannot be switched off inside this transaction) that
    # cascades to every table that refers to events: the delivery log and the outbox, pending
    # deliveries included. Keep both aside and put them back once `events` is whole again.
    for name in _REFERRING:
        op.execute(f"CREATE TEMP TABLE _{name}_0004 AS SELECT * FROM {name}")
    with op.batch_alter_table("events", recreate="always") as batch:
        batch.alter_column("text", existing_type=sa.Text, nullable=True)
    for name in _REFERRING:
        op.execute(
            f"INSERT INTO {name} SELECT * FROM _{name}_0004 WHERE id NOT IN (SELECT id FROM {name})"
        )
        op.execute(f"DROP TABLE _{name}_0004")


def _backfill() -> None:
    bind = op.get_bind()
    for rule_id, rule_op in _BUILTIN_OPS.items():
        bind.execute(
            _events.update()
            .where(_events.c.rule_id == rule_id, _events.c.op.is_(None))
            .values(op=rule_op)
        )
    custom = bind.execute(sa.text("SELECT id, op FROM custom_rules")).all()
    for row_id, rule_op in custom:
        bind.execute(
            _events.update()
            .where(_events.c.rule_id == f"c{row_id}", _events.c.op.is_(None))
            .values(op=rule_op)
        )
    notices = bind.execute(
        sa.select(_events.c.id, _events.c.rule_id).where(
            _events.c.rule_id.like(f"{_NOTICE_PREFIX}%")
        )
    ).all()
    for event_id, rule_id in notices:
        detail: dict[str, Any] = {
            "notice": {"feed": rule_id[len(_NOTICE_PREFIX) :], "since": None, "error": None}
        }
        bind.execute(_events.update().where(_events.c.id == event_id).values(detail=detail))


def downgrade() -> None:
    """Give new events a text again (their description) and drop the structured columns."""
    op.execute("UPDATE events SET text = description WHERE text IS NULL")
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("CREATE TEMP TABLE _deliveries_0003 AS SELECT * FROM deliveries")
        with op.batch_alter_table("events", recreate="always") as batch:
            batch.alter_column("text", existing_type=sa.Text, nullable=False)
            batch.drop_column("detail")
            batch.drop_column("op")
        op.execute(
            "INSERT INTO deliveries SELECT * FROM _deliveries_0003 "
            "WHERE id NOT IN (SELECT id FROM deliveries)"
        )
        op.execute("DROP TABLE _deliveries_0003")
        return
    op.alter_column("events", "text", existing_type=sa.Text, nullable=False)
    op.drop_column("events", "detail")
    op.drop_column("events", "op")
