"""The Redis online store: one string per (view, entity), read with one MGET, written by a Lua script.

A value is ``<event µs><created µs><JSON>`` with both times as fixed-width decimal text, so the script can
compare versions as strings and only ever replace a value with a newer or equal one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

from mlfactory.errors import ConfigError, StoreUnavailableError
from mlfactory.features.online.base import OnlineRecord, OnlineStore, Watermark

T = TypeVar("T")
_OFFSET = 10**17  # keeps pre-1970 times positive, so fixed-width text sorts like the number
_W = 20
_CAS = """
local n = 0
for i, key in ipairs(KEYS) do
  local version = ARGV[2 * i - 1]
  local current = redis.call('GETRANGE', key, 0, 39)
  if ARGV[#ARGV] == '1' or current == '' or current <= version then
    redis.call('SET', key, version .. ARGV[2 * i])
    n = n + 1
  end
end
return n
"""


def _version(event_us: int, created_us: int) -> str:
    return f"{event_us + _OFFSET:0{_W}d}{created_us + _OFFSET:0{_W}d}"


def _masked(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        host = parts.hostname or ""
        netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


class RedisOnlineStore(OnlineStore):
    """Online features in Redis (for teams and several server replicas)."""

    def __init__(self, url: str, *, namespace: str = "") -> None:
        try:
            import redis
        except ImportError:
            raise ConfigError(
                "the Redis online store needs the redis package: pip install 'mlfactory[redis]'"
            ) from None
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        prefix = query.pop("prefix", None)
        self.url = _masked(url)
        self.prefix = prefix if prefix is not None else (f"mlf:{namespace}:" if namespace else "mlf:")
        clean = urlunsplit(parts._replace(query=urlencode(query)))
        self._errors_t = (redis.ConnectionError, redis.TimeoutError)
        self._redis = redis.Redis.from_url(
            clean, socket_connect_timeout=2, socket_timeout=10, health_check_interval=30
        )
        self._cas = self._redis.register_script(_CAS)
        self.ping()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except self._errors_t as exc:
            raise StoreUnavailableError(
                f"online store {self.url} cannot be reached: {exc}; check that Redis runs and the URL in "
                "stores.online is right"
            ) from None

    def _call(self, fn: Callable[[], T]) -> T:
        with self._errors():
            return fn()

    def _key(self, view: str, entity: str) -> str:
        return f"{self.prefix}f:{view}:{entity}"

    def _wm_key(self, view: str) -> str:
        return f"{self.prefix}wm:{view}"

    def write(
        self,
        view: str,
        rows: Iterable[tuple[str, int, int, bytes]],
        *,
        watermark: Watermark | None = None,
        force: bool = False,
    ) -> int:
        written = 0
        it = iter(rows)
        with self._errors():
            while chunk := list(islice(it, 2_000)):
                keys = [self._key(view, k) for k, _, _, _ in chunk]
                args: list[Any] = []
                for _, e, c, p in chunk:
                    args += [_version(e, c), p]
                args.append("1" if force else "0")
                written += int(self._cas(keys=keys, args=args))
            if watermark is not None:  # only after every row is in
                self._redis.hset(
                    self._wm_key(view), mapping={"us": watermark.us, "code": watermark.code_version}
                )
        return written

    @staticmethod
    def _decode(raw: Any) -> OnlineRecord | None:
        if raw is None:
            return None
        return OnlineRecord(
            orjson.loads(raw[2 * _W :]), int(raw[:_W]) - _OFFSET, int(raw[_W : 2 * _W]) - _OFFSET
        )

    def read(self, view: str, keys: Sequence[str]) -> list[OnlineRecord | None]:
        if not keys:
            return []
        raws = self._call(lambda: self._redis.mget([self._key(view, k) for k in keys]))
        return [self._decode(r) for r in raws]

    def read_views(self, views: Sequence[str], keys: Sequence[str]) -> dict[str, list[OnlineRecord | None]]:
        if not keys or not views:
            return {v: [] for v in views}
        raws = self._call(lambda: self._redis.mget([self._key(v, k) for v in views for k in keys]))
        n = len(keys)
        return {v: [self._decode(r) for r in raws[i * n : (i + 1) * n]] for i, v in enumerate(views)}

    def watermark(self, view: str) -> Watermark | None:
        raw = self._call(lambda: self._redis.hgetall(self._wm_key(view)))
        if not raw:
            return None
        return Watermark(int(raw[b"us"]), bytes(raw[b"code"]).decode())  # type: ignore[arg-type]

    def _scan(self, view: str) -> Iterator[bytes]:
        pattern = "".join("\\" + ch if ch in "*?[]\\" else ch for ch in self._key(view, ""))
        return self._redis.scan_iter(match=pattern + "*", count=1000)

    def clear(self, view: str) -> int:
        with self._errors():
            n = 0
            batch: list[bytes] = []
            for key in self._scan(view):
                batch.append(key)
                if len(batch) >= 1000:
                    n += self._redis.unlink(*batch)
                    batch = []
            if batch:
                n += self._redis.unlink(*batch)
            self._redis.delete(self._wm_key(view))
        return n

    def count(self, view: str) -> int:
        with self._errors():
            return sum(1 for _ in self._scan(view))

    def ping(self) -> None:
        self._call(self._redis.ping)

    def close(self) -> None:
        self._redis.close()
