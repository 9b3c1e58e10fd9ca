"""Loaded versions: load once, keep what routes pin plus a few recent others, report a failed load once.

A version that loses its route stays loaded (up to ``server.model_cache`` of them) so that a rollback or an
explicit ``/versions/{v}`` request answers at once; the least recently used of those is closed first. A
request still holding a closed version predicts inline, so closing never fails an answer in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import OrderedDict

from mlfactory.config import BatchingConfig
from mlfactory.errors import MLFactoryError, NotFoundError
from mlfactory.registry import Registry
from mlfactory.serving.onnx_served import served_version
from mlfactory.serving.served import ModelUnavailableError, ServedVersion

log = logging.getLogger("mlfactory.serving")
Key = tuple[str, int]  # (model, version)


class VersionCache:
    """The served versions of every model, loaded on demand and closed when no longer wanted.

    Args:
        registry: where versions are loaded from (and load failures recorded as events).
        batching: the micro-batching settings each loaded version gets.
        keep: how many versions no route pins stay loaded (``server.model_cache``).
        actor: who ``serving.load_failed`` events are recorded as.
    """

    def __init__(
        self, registry: Registry, batching: BatchingConfig, *, keep: int, actor: str = "server"
    ) -> None:
        self.registry = registry
        self.batching = batching
        self.keep = keep
        self.actor = actor
        self._loaded: dict[Key, ServedVersion] = {}
        self._extra: OrderedDict[Key, None] = OrderedDict()  # loaded, unpinned; least recently used first
        self._reported: set[Key] = set()
        self._lock = threading.Lock()

    def ensure(self, name: str, version: int) -> ServedVersion:
        """The version, loading it when it is not loaded yet (blocking).

        Raises:
            NotFoundError: the version does not exist.
            MLFactoryError: it cannot be loaded (artifact missing, corrupt, unsupported flavor).
        """
        key = (name, version)
        with self._lock:
            sv = self._loaded.get(key)
        if sv is not None:
            return sv
        mv = self.registry.metadata.get_model_version(name, version)
        sv = served_version(self.registry, mv, self.batching)
        with self._lock:
            if key in self._loaded:  # loaded meanwhile by another caller
                sv.close()
                return self._loaded[key]
            self._loaded[key] = sv
        log.info("loaded %s", sv.ref)
        return sv

    def try_load(self, name: str, version: int, failures: dict[str, str]) -> ServedVersion | None:
        """The version, or None with the reason under ``failures["name/version"]`` when it cannot load.

        The first failure of each version is logged and recorded as a ``serving.load_failed`` event; the
        model keeps serving what it served before.
        """
        try:
            return self.ensure(name, version)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            failures[f"{name}/{version}"] = reason
            if (name, version) not in self._reported:
                self._reported.add((name, version))
                self._report(name, version, reason)
            return None

    def _report(self, name: str, version: int, reason: str) -> None:
        log.error("cannot load %s/%s; it keeps serving what it served before: %s", name, version, reason)
        with contextlib.suppress(MLFactoryError):  # a lost database must not stop the refresh
            self.registry.metadata.add_event(
                "serving.load_failed",
                actor=self.actor,
                model=name,
                payload={"version": version},
                reason=reason,
            )

    async def get(self, name: str, version: int) -> ServedVersion:
        """The version for an explicit request (``/versions/{v}``, ``@alias``), loading it off the loop.

        Raises:
            NotFoundError: the version does not exist.
            ModelUnavailableError: it exists but cannot be loaded (the details go to the server log).
        """
        key = (name, version)
        with self._lock:
            sv = self._loaded.get(key)
            if key in self._extra:
                self._extra.move_to_end(key)
        if sv is not None:
            return sv
        try:
            sv = await asyncio.to_thread(self.ensure, name, version)
        except MLFactoryError as exc:
            if isinstance(exc, NotFoundError):
                raise
            log.error("cannot load %s/%s: %s", name, version, exc)
            raise ModelUnavailableError(
                f"model {name}/{version} cannot be loaded ({type(exc).__name__}); "
                "the server log has the details"
            ) from None
        with self._lock:
            self._extra[key] = None
        return sv

    def evict(self, pinned: set[Key]) -> None:
        """Close every loaded version that is neither ``pinned`` (routed) nor among the ``keep`` most recent
        others."""
        with self._lock:
            for key in self._loaded:  # versions that just lost their route stay loaded for a quick way back
                if key not in pinned and key not in self._extra:
                    self._extra[key] = None
            while len(self._extra) > self.keep:
                self._extra.popitem(last=False)
            drop = [k for k in self._loaded if k not in pinned and k not in self._extra]
            closing = [self._loaded.pop(k) for k in drop]
        for sv in closing:
            sv.close()  # requests still holding it fall back to predicting inline

    def loaded(self) -> set[Key]:
        """Which versions are loaded now."""
        with self._lock:
            return set(self._loaded)

    def close(self) -> None:
        """Close every loaded version (after its queued work)."""
        with self._lock:
            served, self._loaded = list(self._loaded.values()), {}
            self._extra.clear()
        for sv in served:
            sv.close()
