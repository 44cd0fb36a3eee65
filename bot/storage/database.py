"""The database: engine and pool, transactions, SQLite pragmas, and migrations at start."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self, TypeVar

import asyncpg
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError as AlembicError
from sqlalchemy import Connection, Engine, create_engine, event, literal, select, text
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.dml import Insert

InsertFn = Callable[[Any], Insert]
T = TypeVar("T")


class StoreUnavailable(Exception):
    """The database cannot be reached or refused the operation."""


# What the drivers raise when the database is gone, locked past its timeout, or refuses a query.
_DATABASE_ERRORS = (OSError, DBAPIError, TimeoutError)
# Seconds a new PostgreSQL connection may take, handshake and authentication included.
CONNECT_TIMEOUT = 10.0
# asyncpg's refusals while connecting (no such database or role, bad password, not PostgreSQL at
# that port) reach us unwrapped by SQLAlchemy.
_OPEN_ERRORS: tuple[type[BaseException], ...] = (
    *_DATABASE_ERRORS,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)


def _migrations_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    return config


# Any fixed number will do: replicas starting together take turns on it to migrate.
_MIGRATION_LOCK = 0x52524D49  # "RRMI"


class SchemaTooNew(Exception):
    """The database was migrated by a newer version of the bot than this one."""


@dataclass(frozen=True, slots=True)
class Migration:
    """What opening the database did to its schema: the revision before and after."""

    before: str | None
    after: str | None


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _upgrade(connection: Connection) -> Migration:
    """Bring the schema to this code's head, one replica at a time; refuse a newer schema.

    On PostgreSQL the whole upgrade runs in one transaction under an advisory lock: replicas that
    start together wait for the first, then find nothing left to do. DDL is transactional there,
    so a migration cut short leaves nothing half-built.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
    config = _migrations_config()
    scripts = ScriptDirectory.from_config(config)
    before = _revision(connection)
    known = {script.revision for script in scripts.walk_revisions()}
    if before is not None and before not in known:
        raise SchemaTooNew(
            f"its schema is at revision {before}, newer than this version of the bot knows "
            f"(up to {scripts.get_current_head()}): run the newer version, or restore a backup"
        )
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
    return Migration(before, _revision(connection))


# Every PostgreSQL session: a stuck lock, query or abandoned transaction fails instead of hanging a
# loop for ever, and keepalives notice a peer that vanished (a failover) within a minute.
_POSTGRES_SESSION = {
    "lock_timeout": "10s",
    "statement_timeout": "60s",
    "idle_in_transaction_session_timeout": "60s",
    "tcp_keepalives_idle": "30",
    "tcp_keepalives_interval": "10",
    "tcp_keepalives_count": "3",
}


class Database:
    """One engine and its transactions; each entity's tables add their methods to this base."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._file: Path | None = None
        self._identity: tuple[int, int] | None = None
        self.migration = Migration(None, None)
        # SQLite file databases: a second connection, driven by a thread of its own, for the
        # transactions that must be quick (see `_transact`).
        self._quick: Engine | None = None
        self._quick_thread: ThreadPoolExecutor | None = None

    @classmethod
    async def open(cls, url: str, pool_size: int = 10) -> Self:
        """Connect to `url` (an async SQLAlchemy URL), create SQLite's directory, and migrate.

        Raise `StoreUnavailable` with one line naming the database (never its password) and
        why it cannot be opened: refused, unknown host, no such database or role, bad password.
        """
        parsed = make_url(url)
        # As the operator wrote it (no +asyncpg), without the password.
        shown = parsed.set(drivername=parsed.get_backend_name()).render_as_string(
            hide_password=True
        )
        if parsed.get_backend_name() == "sqlite":
            try:
                _make_parent(parsed.database or "")
            except OSError as exc:
                raise StoreUnavailable(
                    f"cannot open the database {shown}: cannot create its directory: "
                    f"{_one_line(exc)}"
                ) from None
            # One connection: SQLite has one writer anyway, and a single connection means the
            # process never races itself for the write lock.
            engine = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=60)
            _configure_sqlite(engine)
        else:
            engine = create_async_engine(
                url,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_pre_ping=True,
                # Something that is not PostgreSQL at that port never answers the handshake.
                connect_args={"server_settings": _POSTGRES_SESSION, "timeout": CONNECT_TIMEOUT},
            )
        store = cls(engine)
        try:
            async with engine.begin() as conn:
                store.migration = await conn.run_sync(_upgrade)
        except (SchemaTooNew, AlembicError) as exc:
            await engine.dispose()
            raise StoreUnavailable(f"cannot open the database {shown}: {exc}") from exc
        except _OPEN_ERRORS as exc:
            await engine.dispose()
            reason = _one_line(exc)
            if isinstance(exc, TimeoutError):
                reason = f"no answer within {CONNECT_TIMEOUT:g} s ({reason})"
            raise StoreUnavailable(f"cannot open the database {shown}: {reason}") from exc
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            store._file = _absolute(parsed.database or "")
            store._identity = _identity(store._file)
            store._quick = create_engine(
                parsed.set(drivername="sqlite"),
                pool_size=1,
                max_overflow=0,
                # Only its own thread uses it; the check would refuse `dispose` from another.
                connect_args={"check_same_thread": False},
            )
            _configure_sqlite(store._quick)
            store._quick_thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-quick")
        return store

    def check_file(self) -> None:
        """Raise `StoreUnavailable` if SQLite's database file was deleted or replaced under us.

        The open connection would go on writing to the unlinked file, and every subscription
        would be gone at the next start: better to say so now.
        """
        if self._file is None:
            return
        now = _identity(self._file)
        if now is None:
            raise StoreUnavailable(f"the database file {self._file} was deleted")
        if now != self._identity:
            raise StoreUnavailable(f"the database file {self._file} was replaced by another file")

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
        if self._quick is not None and self._quick_thread is not None:
            await asyncio.get_running_loop().run_in_executor(
                self._quick_thread, self._quick.dispose
            )
            self._quick_thread.shutdown()
            self._quick = self._quick_thread = None

    async def _transact(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in one transaction, all of it in a single hop to the database's thread.

        aiosqlite hands every statement, cursor and fetch to its thread and back: about 15 hops
        and 6 ms for a three-statement transaction. A SQLite file gets a second connection whose
        thread runs the whole transaction at once (about 1 ms); the two take turns at the write
        lock like any two SQLite connections. PostgreSQL (and an in-memory SQLite, which a second
        connection would not see) run `work` on the async connection. Once started, `work`
        completes even if the caller is cancelled, so its outcome is never half-known.
        """
        if self._quick is None or self._quick_thread is None:
            async with self._begin() as conn:
                return await conn.run_sync(work)
        job = asyncio.get_running_loop().run_in_executor(
            self._quick_thread, _in_transaction, self._quick, work
        )
        try:
            return await asyncio.shield(job)
        except asyncio.CancelledError:
            # Let the thread finish before the caller moves on (it may record the same rows).
            await asyncio.wait([job])
            raise
        except _DATABASE_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc

    def insert(self, table: Any) -> Insert:
        """Return the dialect's INSERT, which knows ON CONFLICT."""
        if self.dialect == "postgresql":
            return pg_dialect.insert(table)
        return sqlite_dialect.insert(table)

    @asynccontextmanager
    async def _connect(self) -> AsyncIterator[AsyncConnection]:
        """Open a connection; a database failure inside comes out as `StoreUnavailable`."""
        try:
            async with self.engine.connect() as conn:
                yield conn
        except _DATABASE_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc

    @asynccontextmanager
    async def _begin(self) -> AsyncIterator[AsyncConnection]:
        """Open a transaction; a database failure inside comes out as `StoreUnavailable`."""
        try:
            async with self.engine.begin() as conn:
                yield conn
        except _DATABASE_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc

    async def checkpoint(self) -> None:
        """Fold SQLite's write-ahead log into the database; refresh PostgreSQL's delivery statistics.

        Both off the hot path, from the maintenance loop. A fan-out adds thousands of outbox rows
        at once; until the planner knows, it may claim heads by walking every destination instead
        of the pending rows in order (3 s instead of 3 ms a claim at 600,000 pending rows), and
        autovacuum may take a minute to notice.
        """
        async with self._connect() as conn:
            # Neither can run inside a transaction, so no BEGIN for these.
            plain = await conn.execution_options(isolation_level="AUTOCOMMIT")
            if self.dialect == "sqlite":
                await plain.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            elif self.dialect == "postgresql":
                await plain.exec_driver_sql("ANALYZE outbox, destinations")

    async def ping(self) -> None:
        """Raise `StoreUnavailable` unless the database answers (and SQLite's file is ours)."""
        self.check_file()
        async with self._connect() as conn:
            await conn.execute(select(literal(1)))


class UnitBase:
    """One open transaction that several entities write in."""

    def __init__(self, conn: AsyncConnection, database: Database) -> None:
        self._conn = conn
        self._store = database


def _absolute(database: str) -> Path:
    return Path(database).expanduser().absolute()


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino


def _one_line(exc: BaseException) -> str:
    """Return the driver's own message, first line only: no SQL, no traceback, no URL."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _make_parent(database: str) -> None:
    if database and database != ":memory:":
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _in_transaction(engine: Engine, work: Callable[[Connection], T]) -> T:
    with engine.begin() as conn:
        return work(conn)


def _configure_sqlite(engine: AsyncEngine | Engine) -> None:
    sync = engine.sync_engine if isinstance(engine, AsyncEngine) else engine

    @event.listens_for(sync, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" hook issue BEGIN itself, as IMMEDIATE: a transaction that reads
        # and then writes must not be refused the write lock half-way when another process wrote.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # A fan-out sorts and de-duplicates thousands of rows: keep that off the disk.
        cursor.execute("PRAGMA temp_store=MEMORY")
        # Checkpoint the write-ahead log from the maintenance loop (Store.checkpoint), not in the
        # commit of whichever fan-out happens to cross SQLite's default 1,000 pages.
        cursor.execute("PRAGMA wal_autocheckpoint=16384")
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.close()

    @event.listens_for(sync, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
