"""The relational schema, as SQLAlchemy Core tables; migrations in bot/migrations build it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)

# SQLite has no BIGINT autoincrement; INTEGER PRIMARY KEY is its 64-bit rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, whatever the database keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

samples = Table(
    "samples",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("metric", String(64), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("value", Float, nullable=False),
    Column("source", String(64), nullable=False),
    # What the value is made of, when the source says (the regime's components): charts draw it.
    Column("detail", JSON(none_as_null=True)),
    UniqueConstraint("metric", "at", name="uq_samples_metric_at"),
)

latest = Table(
    "latest",
    metadata,
    Column("metric", String(64), primary_key=True),
    Column("value", Float),
    Column("at", UTCDateTime()),
    Column("source", String(64)),
    Column("detail", JSON),
    Column("stale_reason", Text),
    Column("checked_at", UTCDateTime(), nullable=False),
)

coin_closes = Table(
    "coin_closes",
    metadata,
    Column("coin_id", String(128), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("close", Float, nullable=False),
)

# One value per named series and UTC day (signals' DailySeries), e.g. the altcoins' 24 h volume.
daily_series = Table(
    "daily_series",
    metadata,
    Column("series", String(64), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("value", Float, nullable=False),
)

custom_rules = Table(
    "custom_rules",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("owner", String(512), nullable=False, index=True),
    Column("metric", String(64), nullable=False),
    Column("op", String(16), nullable=False),
    Column("threshold", Float),
    Column("created_at", UTCDateTime(), nullable=False),
)

# A rule's last value and sample time are its metric's, kept once in `latest`: a sample that
# changes no rule's state then writes no rule_state row.
rule_state = Table(
    "rule_state",
    metadata,
    Column("rule_id", String(64), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("armed", Boolean, nullable=False),
    Column("since", UTCDateTime()),
    Column("notified_at", UTCDateTime()),
    Column("high", Float),
)

events = Table(
    "events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("rule_id", String(64), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("metric", String(64), nullable=False),
    Column("value", Float, nullable=False),
    Column("previous", Float),
    Column("threshold", Float),
    Column("source", String(64), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("description", Text, nullable=False),
    # The rule's operator (NULL for operator notices), and the regime's components or a notice's
    # facts; front-ends word the alert from these.
    Column("op", String(16)),
    Column("detail", JSON(none_as_null=True)),
    # Pre-written text of events recorded before revision 0003; no longer written or read.
    Column("text", Text),
)

destinations = Table(
    "destinations",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("address", String(512), nullable=False, unique=True),
    Column("active", Boolean, nullable=False),
    Column("muted_until", UTCDateTime()),
    Column("deactivated_reason", Text),
    Column("created_at", UTCDateTime(), nullable=False),
    # The IANA zone every time shown to the chat is written in; NULL: UTC.
    Column("time_zone", String(64)),
    # Quiet hours: minutes after local midnight in `quiet_zone`; all three NULL when off.
    Column("quiet_start", Integer),
    Column("quiet_end", Integer),
    Column("quiet_zone", String(64)),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column(
        "destination_id",
        BigId,
        ForeignKey("destinations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("rule_id", String(64), primary_key=True),
    Index("ix_subscriptions_rule", "rule_id"),
)

# No foreign keys on the outbox: checking two parents per row doubles the cost of a ten-thousand-
# row fan-out. Rows are only ever made by INSERT ... SELECT from existing events and destinations,
# events are never deleted, and moving a destination re-points its rows before the old one goes.
outbox = Table(
    "outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("event_id", BigId, nullable=False),
    Column("destination_id", BigId, nullable=False),
    Column("status", String(8), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("last_error", Text),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime()),
    # A dispatcher claims a row before sending it and records the outcome after: no transaction
    # stays open across the network call. A claim whose lease ran out (its worker died or froze)
    # may be taken by another worker.
    Column("claimed_by", String(64)),
    Column("claim_until", UTCDateTime()),
    # Why the row was held ('mute' or 'quiet'), NULL if never. A held row waits with status
    # 'held' until the hold ends, then turns pending and goes out in one summary with the other
    # rows held alongside it.
    Column("held", String(8)),
    # Keyed by id alone, so a fan-out appends to it instead of scattering ten thousand entries;
    # partial, so delivered rows drop out of it.
    Index(
        "ix_outbox_pending",
        "id",
        sqlite_where=text("status = 'pending'"),
        postgresql_where=text("status = 'pending'"),
    ),
    # A destination's pending rows in order: finds its oldest one (the only one that may be sent).
    Index(
        "ix_outbox_pending_destination",
        "destination_id",
        "id",
        sqlite_where=text("status = 'pending'"),
        postgresql_where=text("status = 'pending'"),
    ),
    # The destinations with held rows, for the release check that runs every few seconds.
    Index(
        "ix_outbox_held",
        "destination_id",
        sqlite_where=text("status = 'held'"),
        postgresql_where=text("status = 'held'"),
    ),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "destination_id",
        BigId,
        ForeignKey("destinations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("event_id", BigId, ForeignKey("events.id", ondelete="CASCADE"), nullable=False),
    Column("sent_at", UTCDateTime(), nullable=False),
    # Why the alert had been held when it went out in a summary ('mute' or 'quiet'); NULL: sent
    # on its own.
    Column("held", String(8)),
    Index("ix_deliveries_destination", "destination_id", "id"),
)
