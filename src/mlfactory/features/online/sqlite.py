"""The SQLite online store: one table keyed by (view, entity), WAL mode, one connection per thread."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from pathlib import Path

import orjson

from mlfactory.errors import StoreUnavailableError
from mlfactory.features.online.base import OnlineRecord, OnlineStore, Watermark

_SCHEMA = """
CREATE TABLE IF NOT EXISTS online_features (
    view TEXT NOT NULL, entity TEXT NOT NULL, event_us INTEGER NOT NULL, created_us INTEGER NOT NULL,
    payload BLOB NOT NULL, PRIMARY KEY (view, entity)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS online_watermarks (
    view TEXT PRIMARY KEY, watermark_us INTEGER NOT NULL, code_version TEXT NOT NULL);
"""
_UPSERT = (
    "INSERT INTO online_features VALUES (?, ?, ?, ?, ?) ON CONFLICT (view, entity) DO UPDATE SET "
    "event_us = excluded.event_us, created_us = excluded.created_us, payload = excluded.payload"
)
_NEWER = (
    " WHERE (excluded.event_us, excluded.created_us) >= "
    "(online_features.event_us, online_features.created_us)"
)
_MAX_PARAMS = 30_000  # below SQLite's default limit on host parameters per statement


class SqliteOnlineStore(OnlineStore):
    """Online features in a local SQLite file (the default; nothing to run)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._errors():
            self._conn().executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, timeout=60, isolation_level=None, check_same_thread=False, cached_statements=256
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as exc:
            raise StoreUnavailableError(
                f"online store {self.url} cannot be used: {exc}; check the path and its permissions"
            ) from None

    def write(
        self,
        view: str,
        rows: Iterable[tuple[str, int, int, bytes]],
        *,
        watermark: Watermark | None = None,
        force: bool = False,
    ) -> int:
        sql = _UPSERT + ("" if force else _NEWER)
        conn = self._conn()
        with self._errors():
            conn.execute("BEGIN IMMEDIATE")
            try:
                before = conn.total_changes
                it = iter(rows)
                while chunk := list(islice(it, 10_000)):
                    conn.executemany(sql, [(view, k, e, c, p) for k, e, c, p in chunk])
                written = conn.total_changes - before
                if watermark is not None:
                    conn.execute(
                        "INSERT INTO online_watermarks VALUES (?, ?, ?) ON CONFLICT (view) DO UPDATE SET "
                        "watermark_us = excluded.watermark_us, code_version = excluded.code_version",
                        (view, watermark.us, watermark.code_version),
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return written

    def read(self, view: str, keys: Sequence[str]) -> list[OnlineRecord | None]:
        conn = self._conn()
        with self._errors():
            if len(keys) == 1:
                rows = conn.execute(
                    "SELECT entity, event_us, created_us, payload FROM online_features "
                    "WHERE view = ? AND entity = ?",
                    (view, keys[0]),
                ).fetchall()
            else:
                rows = []
                for i in range(0, len(keys), _MAX_PARAMS):
                    part = list(dict.fromkeys(keys[i : i + _MAX_PARAMS]))
                    rows += conn.execute(
                        "SELECT entity, event_us, created_us, payload FROM online_features WHERE view = ? "
                        f"AND entity IN ({','.join('?' * len(part))})",
                        (view, *part),
                    ).fetchall()
        found = {k: OnlineRecord(orjson.loads(p), e, c) for k, e, c, p in rows}
        return [found.get(k) for k in keys]

    def watermark(self, view: str) -> Watermark | None:
        with self._errors():
            row = (
                self._conn()
                .execute("SELECT watermark_us, code_version FROM online_watermarks WHERE view = ?", (view,))
                .fetchone()
            )
        return Watermark(row[0], row[1]) if row else None

    def clear(self, view: str) -> int:
        conn = self._conn()
        with self._errors():
            conn.execute("BEGIN IMMEDIATE")
            n = conn.execute("DELETE FROM online_features WHERE view = ?", (view,)).rowcount
            conn.execute("DELETE FROM online_watermarks WHERE view = ?", (view,))
            conn.execute("COMMIT")
        return n

    def count(self, view: str) -> int:
        with self._errors():
            return int(
                self._conn()
                .execute("SELECT count(*) FROM online_features WHERE view = ?", (view,))
                .fetchone()[0]
            )

    def ping(self) -> None:
        with self._errors():
            self._conn().execute("SELECT 1").fetchone()

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
        self._local = threading.local()
