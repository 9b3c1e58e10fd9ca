"""Engines for the metadata database, and Alembic migrations applied when a store opens."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import orjson
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from mlfactory.errors import ConfigError, StoreUnavailableError

SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg")
MIGRATIONS = Path(__file__).with_name("migrations")
# The newest migration of each area's branch. A store whose alembic_version holds exactly these needs no
# upgrade, so opening it skips importing Alembic (a third of a CLI command's start); a test keeps this set
# equal to the heads Alembic computes from the migration files.
HEADS = frozenset(
    {
        "0003_features",
        "0004_monitoring",
        "0005_control",
        "0006_feedback",
        "0007_tokens",
        "0009_audits",
        "0011_latest_by_time",
    }
)
T = TypeVar("T")
# The execution option of connections that only read (SqlBase._read): on SQLite their transactions begin
# deferred, taking no lock until they read, and never the write lock.
READS = "mlfactory_reads"


def _dumps(value: object) -> str:
    # NumPy scalars and arrays (metrics, profiles) are stored as plain JSON numbers and lists
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS).decode()


def _loads(value: str | bytes | float) -> object:
    # SQLite gives a JSON column numeric affinity: a bare number comes back as a number, not text
    return orjson.loads(value) if isinstance(value, str | bytes) else value


JSON_CODEC = {"json_serializer": _dumps, "json_deserializer": _loads}


def _sqlite_engine(url: str) -> Engine:
    path = url.removeprefix("sqlite:///")
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 60}, **JSON_CODEC)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (below)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # type: ignore[no-untyped-def]
        # A writer's IMMEDIATE takes the write lock up front, so two writers queue on busy_timeout instead
        # of failing with "database is locked" when a read transaction tries to become a write one. A
        # reader's plain BEGIN takes none: under WAL it reads its snapshot while a writer writes. Sent on
        # the driver's connection: through SQLAlchemy, the BEGIN cost more than a small transaction's work.
        begin = "BEGIN" if conn.get_execution_options().get(READS, False) else "BEGIN IMMEDIATE"
        try:
            conn.connection.driver_connection.execute(begin)
        except sqlite3.Error as exc:  # as SQLAlchemy raises it (a busy database: OperationalError)
            raise DBAPIError.instance(begin, None, exc, sqlite3.Error) from exc

    return engine


def make_engine(url: str) -> Engine:
    """Create the engine for a metadata URL; an unknown scheme lists the valid ones."""
    scheme = url.split(":", 1)[0]
    if scheme == "sqlite":
        return _sqlite_engine(url)
    if scheme in ("postgresql", "postgresql+psycopg"):
        if scheme == "postgresql":
            url = "postgresql+psycopg" + url.removeprefix("postgresql")
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, **JSON_CODEC)
    raise ConfigError(
        f"metadata store URL scheme '{scheme}' is not supported; use one of: {', '.join(SCHEMES)}"
    )


def _current(engine: Engine) -> frozenset[str]:
    """The revisions a database is at (empty for a new one)."""
    try:
        with engine.connect() as conn:
            return frozenset(r for (r,) in conn.execute(text("SELECT version_num FROM alembic_version")))
    except (OperationalError, ProgrammingError) as exc:
        if "alembic_version" in str(exc):  # no table yet: a new database
            return frozenset()
        raise


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration. Safe to call from several processes at once."""
    if _current(engine) == HEADS:
        return
    from alembic import command
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # one migrator at a time across processes; released at commit
            conn.execute(text("SELECT pg_advisory_xact_lock(7262811)"))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")  # independent areas may add migrations on their own branches


def safe_url(url: str) -> str:
    """The URL with any password masked, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else url
    return url


@contextmanager
def unavailable_as_error(url: str) -> Iterator[None]:
    """Turn a lost database connection into a StoreUnavailableError naming the (masked) URL."""
    try:
        yield
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise StoreUnavailableError(
            f"metadata store {safe_url(url)} cannot be reached: {reason}; check that the database runs "
            "and the URL in stores.metadata is right"
        ) from None


class Raced(Exception):
    """A concurrent writer changed the row a transaction read before it could write it: read again."""


def retry_on_conflict(fn: Callable[[], T], attempts: int = 8) -> T:
    """Run a transaction again when a concurrent writer took the same unique key first (or changed the row it
    read: :class:`Raced`). The next attempt reads the new state, so its own checks decide."""
    for i in range(attempts):
        try:
            return fn()
        except (SAIntegrityError, Raced):
            if i == attempts - 1:
                raise
            time.sleep(0.01 * (i + 1))
    raise AssertionError("unreachable")
