"""The online feature store interface, entity key encoding, and choosing a backend by URL."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from mlfactory.errors import ConfigError

SCHEMES = ("sqlite", "redis", "rediss")


class OnlineRecord(NamedTuple):
    """The latest values of one entity in one view, with when they became true and were written."""

    values: dict[str, Any]
    event_us: int
    created_us: int


@dataclass(frozen=True)
class Watermark:
    """How far a view has been materialized: the newest ``max(event, created)`` written, in µs since epoch,
    and the code version of the view that wrote it."""

    us: int
    code_version: str


def _key_part(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    if hasattr(value, "item"):  # numpy scalars
        return _key_part(value.item())
    return str(value)


def entity_key(values: Sequence[Any]) -> str:
    """One string per entity from its join key values (``42`` and ``42.0`` give the same key)."""
    if len(values) == 1:
        return _key_part(values[0])
    return "\x1f".join(_key_part(v) for v in values)


class OnlineStore(ABC):
    """Latest feature values per entity and view, for lookups at serving time.

    Writes are compare-and-set on ``(event_us, created_us)``: a write never replaces a newer value, and
    writing the same rows twice changes nothing, so materialization is idempotent.
    """

    url: str

    @abstractmethod
    def write(
        self,
        view: str,
        rows: Iterable[tuple[str, int, int, bytes]],
        *,
        watermark: Watermark | None = None,
        force: bool = False,
    ) -> int:
        """Write ``(entity key, event_us, created_us, values as JSON bytes)`` rows of a view.

        Args:
            view: the view's name.
            rows: the rows; each replaces the stored one only when not older (unless ``force``).
            watermark: stored with the last row, so a crash never advances it past unwritten rows.
            force: replace stored values even when they are newer (a view whose code changed).

        Returns:
            How many rows replaced or added a value.
        """

    @abstractmethod
    def read(self, view: str, keys: Sequence[str]) -> list[OnlineRecord | None]:
        """The records of many entities of one view in one round trip, None where an entity is unknown."""

    def read_views(self, views: Sequence[str], keys: Sequence[str]) -> dict[str, list[OnlineRecord | None]]:
        """The same entities in several views (backends may do it in one round trip)."""
        return {v: self.read(v, keys) for v in views}

    @abstractmethod
    def watermark(self, view: str) -> Watermark | None:
        """How far the view has been materialized, or None when never."""

    @abstractmethod
    def clear(self, view: str) -> int:
        """Delete every value and the watermark of a view; returns how many values were deleted."""

    @abstractmethod
    def count(self, view: str) -> int:
        """How many entities a view holds."""

    @abstractmethod
    def ping(self) -> None:
        """Raise StoreUnavailableError naming the URL when the store cannot be reached."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    def __enter__(self) -> OnlineStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_online_store(url: str, *, namespace: str = "", root: Path | None = None) -> OnlineStore:
    """The online store for a URL: ``sqlite:///PATH`` (relative to ``root``) or ``redis://HOST:PORT/DB``.

    Args:
        url: the store's URL; a Redis URL may carry ``?prefix=…`` to namespace its keys.
        namespace: key prefix for shared backends (the project name), so projects do not collide.
        root: folder relative SQLite paths are resolved in.
    """
    scheme = url.split(":", 1)[0]
    if scheme == "sqlite":
        from mlfactory.features.online.sqlite import SqliteOnlineStore

        path = url.removeprefix("sqlite:///")
        if not path or path == ":memory:":
            raise ConfigError(
                "the online store needs a file: sqlite:///PATH (an in-memory database is not shared)"
            )
        p = Path(path)
        return SqliteOnlineStore(p if p.is_absolute() or root is None else root / p)
    if scheme in ("redis", "rediss"):
        from mlfactory.features.online.redis import RedisOnlineStore

        return RedisOnlineStore(url, namespace=namespace)
    raise ConfigError(
        f"online store URL scheme '{scheme}' is not supported; use one of: {', '.join(SCHEMES)}"
    )
