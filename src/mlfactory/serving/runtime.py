"""The serving runtime: routing and predict over loaded versions, refreshed from the store. No web code.

A background thread calls :meth:`ServingRuntime.refresh` every ``reload_interval`` seconds: it reads every
alias and routing policy from the metadata store in one snapshot (so changes made by the CLI, the admin API
or another machine are seen), loads the versions they name, and swaps each model's :class:`RouteTable` in one
assignment. A request takes the table once at its start, so it finishes on the versions it started on. Each
table carries the revision it serves (the id of the model's newest alias or routing event in that snapshot),
and a routed answer reports it, so which routing state made an answer is known exactly. A
version that fails to load never replaces the one serving: the model keeps its previous table and the
failure is reported by :meth:`status` (and logged once as a ``serving.load_failed`` event).

The jobs live in their own modules; this class composes them: :mod:`~mlfactory.serving.loading` (loaded
versions), :mod:`~mlfactory.serving.router` (route tables from a snapshot), :mod:`~mlfactory.serving.prepare`
(online features and input checks), :mod:`~mlfactory.serving.result` (the answer),
:mod:`~mlfactory.serving.recording` (the log, the metrics, failure events) and
:mod:`~mlfactory.serving.shadow`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from mlfactory.config import ServerConfig
from mlfactory.entities import PRODUCTION
from mlfactory.errors import MLFactoryError, NotFoundError, ValidationError
from mlfactory.inputs import Batch, OnInvalid, Payload, payload_field, payload_rows
from mlfactory.registry import Registry
from mlfactory.serving.loading import VersionCache
from mlfactory.serving.prepare import Group, Preparer
from mlfactory.serving.recording import Answered, FailureTally, Observer, Recorder
from mlfactory.serving.result import Outputs, PredictResult, assemble, violations
from mlfactory.serving.router import RouteTable, describe_routes, plan_routes
from mlfactory.serving.served import ModelFailedError, ModelUnavailableError, ServedVersion
from mlfactory.serving.shadow import ShadowJob, ShadowScorer
from mlfactory.stores.predictions import PredictionLog, RequestIds

if TYPE_CHECKING:
    from mlfactory.serving.lookup import OnlineFeatures

log = logging.getLogger("mlfactory.serving")


class ServingRuntime:
    """Serves every model that has a ``production`` alias or a routing policy.

    Args:
        registry: the project's registry (metadata + artifacts).
        config: the server settings (limits, reload interval, batching, cache sizes).
        prediction_log: where answered rows go; None logs nothing.
        actor: who load-failure events are recorded as.
        seed: seeds random canary assignment of rows without a routing key (tests).
        features: the online feature store, for versions that declare a feature service.
    """

    def __init__(
        self,
        registry: Registry,
        config: ServerConfig,
        prediction_log: PredictionLog | None = None,
        *,
        actor: str = "server",
        seed: int | None = None,
        features: OnlineFeatures | None = None,
    ) -> None:
        self.registry = registry
        self.features = features
        self.metadata = registry.metadata
        self.config = config
        self.log = prediction_log
        self.actor = actor
        self.ids = prediction_log.ids if prediction_log is not None else RequestIds()
        self.rng = np.random.default_rng(seed)
        self.tables: dict[str, RouteTable] = {}
        self.aliases: dict[tuple[str, str], int] = {}
        self.failures: dict[str, str] = {}
        self.loaded_once = False
        self.last_refresh: datetime | None = None
        self.refresh_error: str | None = None
        self._wanted: frozenset[str] = frozenset()
        self.versions = VersionCache(registry, config.batching, keep=config.model_cache, actor=actor)
        self.recorder = Recorder(prediction_log)
        self.failed_rows = FailureTally(self.metadata, actor)
        self.preparer = Preparer(features, config.max_rows)
        self.shadow = ShadowScorer(self.preparer, self.recorder, config.shadow_queue)
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def observers(self) -> list[Observer]:
        """Told ``(model, version, route, rows)`` for every group of answered rows (shadow included)."""
        return self.recorder.observers

    @property
    def shadow_skipped(self) -> int:
        """Shadow predictions skipped because ``server.shadow_queue`` were already running."""
        return self.shadow.skipped

    @property
    def shadow_failed(self) -> int:
        """Shadow predictions that failed (logged; the real answers were unaffected)."""
        return self.shadow.failed

    # -- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> ServingRuntime:
        """Load what the store says to serve (synchronously), then keep refreshing in the background."""
        self.refresh()
        self._thread = threading.Thread(target=self._loop, name="serving-refresh", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.config.reload_interval):
            try:
                self.refresh()
                self.flush_failures()
            except Exception as exc:  # a lost database must not stop serving the loaded models
                self.refresh_error = f"{type(exc).__name__}: {exc}"
                log.warning("serving refresh failed: %s", self.refresh_error)

    def flush_failures(self) -> None:
        """Record the rows each version failed on since the last flush, as one event per version and route,
        so the controller can compare error rates across every replica."""
        self.failed_rows.flush()

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait (bounded) for shadow predictions still running."""
        await self.shadow.drain(timeout)

    def stop(self) -> None:
        """Stop refreshing and close every predict thread (after their queued work)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with contextlib.suppress(MLFactoryError):
            self.flush_failures()
        self.versions.close()

    # -- routing state --------------------------------------------------------------------------------

    def refresh(self) -> dict[str, Any]:
        """Read aliases and routing policies, load what they name, and swap route tables in."""
        with self._refresh_lock:
            aliases, policies, revisions = self.metadata.routing_state()
            plan = plan_routes(aliases, policies, revisions, self.tables, self.versions.try_load)
            self.tables = plan.tables
            self._wanted = plan.wanted
            self.aliases = aliases
            self.failures = plan.failures
            self.loaded_once = True
            self.last_refresh = datetime.now(UTC)
            self.refresh_error = None
            self.versions.evict({(t.model, v) for t in self.tables.values() for v in t.versions()})
            return self.status()

    def ready(self) -> bool:
        """True once every model the store says to serve has a loaded route table."""
        return self.loaded_once and self._wanted <= self.tables.keys()

    def status(self) -> dict[str, Any]:
        """What is served: per model its production version, routes with shares, shadow; load failures."""
        return {
            "ready": self.ready(),
            "models": describe_routes(self.tables),
            "failures": dict(self.failures),
            "last_refresh": self.last_refresh.isoformat() if self.last_refresh else None,
            "refresh_error": self.refresh_error,
        }

    def readiness(self) -> dict[str, Any]:
        """:meth:`status`, plus (pinging it) the online feature store when a served version needs it."""
        status = self.status()
        if self.features is not None and self._uses_features():
            online = self.features.check()
            status["online_store"] = online
            status["ready"] = status["ready"] and online["ok"]
        return status

    def _uses_features(self) -> bool:
        tables = list(self.tables.values())
        served = [r.served for t in tables for r in t.routes] + [t.shadow for t in tables if t.shadow]
        return any(sv.features is not None for sv in served)

    async def served_version(self, name: str, version: int) -> ServedVersion:
        """One version of a model, loaded on demand (for explicit ``/versions/{v}`` and ``@alias`` requests).

        Raises:
            NotFoundError: the version does not exist.
            ModelUnavailableError: it cannot be loaded.
        """
        return await self.versions.get(name, version)

    def decode_records(self, name: str, body: bytes) -> tuple[Payload, Any] | None:
        """A routed request's native records body decoded straight into numbers (see
        :meth:`InputSpec.decode_records`), when every version it may reach takes the same numeric inputs
        and nothing is looked up by a field of the rows (an A/B key, online features); else None."""
        table = self.tables.get(name)
        spec = table.records_spec if table is not None else None
        return spec.decode_records(body) if spec is not None else None

    # -- routing --------------------------------------------------------------------------------------

    async def _explicit(self, name: str, alias: str | None, version: int | None) -> list[Group]:
        """The one group of a request for an exact version or an alias's version (no canary or A/B)."""
        if version is not None:
            return [Group(await self.served_version(name, version), "version", None)]
        assert alias is not None
        number = self.aliases.get((name, alias))
        if number is None:
            known = sorted(a for (m, a) in self.aliases if m == name)
            raise NotFoundError(
                f"model '{name}' has no alias '{alias}' (aliases: {', '.join(known) or 'none'})"
            )
        route = alias if alias == PRODUCTION else f"alias:{alias}"
        return [Group(await self.served_version(name, number), route, None)]

    def _table(self, name: str) -> RouteTable:
        table = self.tables.get(name)
        if table is not None:
            return table
        if any(f.startswith(f"{name}/") or f == name for f in self.failures):
            raise ModelUnavailableError(f"model '{name}' failed to load; the server log has the details")
        served = ", ".join(sorted(self.tables)) or "none"
        raise NotFoundError(
            f"model '{name}' is not served (served: {served}); a model is served once it "
            f"has a '{PRODUCTION}' alias or a routing policy"
        )

    def _routed(self, table: RouteTable, payload: Payload, n: int, key: Any) -> list[Group]:
        """The rows each route of the table takes (by the request's key, the policy's key field, or at
        random by weight)."""
        if len(table.routes) == 1:
            return [Group(table.routes[0].served, table.routes[0].name, None)]
        keys = None
        if key is not None:
            keys = [key] * n
        elif table.policy.key:
            keys = payload_field(payload, table.policy.key)
        idx = table.assign(n, keys, self.rng)
        groups = []
        for j, route in enumerate(table.routes):
            rows = np.flatnonzero(idx == j)
            if len(rows):
                groups.append(Group(route.served, route.name, None if len(rows) == n else rows))
        return groups

    # -- prediction -----------------------------------------------------------------------------------

    async def _predict_group(self, name: str, group: Group, batch: Batch) -> Outputs:
        try:
            return await group.served.predict(batch)
        except ModelFailedError:
            self.failed_rows.add(name, group.served.number, group.route, batch.n)
            raise

    async def predict(
        self,
        name: str,
        payload: Payload,
        *,
        alias: str | None = None,
        version: int | None = None,
        key: Any = None,
        started: float | None = None,
        on_invalid: OnInvalid = "reject",
    ) -> PredictResult:
        """Check, route, predict and log one request.

        Args:
            name: the model.
            payload: the request's rows.
            alias: answer with the version this alias names (no canary or A/B routing).
            version: answer with exactly this version.
            key: routing key for every row (otherwise the policy's key field in the rows, if any).
            started: ``time.perf_counter()`` when the request arrived, for the logged latency.
            on_invalid: the model's ``on_invalid_input``: rows breaking a declared rule are refused
                (``reject``) or answered with the rules they broke (``flag``, in ``input_violations``).
        """
        t0 = started if started is not None else time.perf_counter()
        now = time.time()
        n = payload_rows(payload)
        if n == 0:  # before routing: a split of no rows between versions has no group to answer
            raise ValidationError("no rows to predict; send at least one row")
        table: RouteTable | None = None
        if version is not None or alias is not None:
            groups = await self._explicit(name, alias, version)
        else:
            table = self._table(name)
            groups = self._routed(table, payload, n, key)
        prepared = await self.preparer.prepare(groups, payload, n, on_invalid)
        outs = await asyncio.gather(
            *(self._predict_group(name, g, b) for g, b in zip(groups, prepared.subs, strict=True))
        )
        request_ids = self.ids.make(n, now)
        result = assemble(name, n, groups, list(outs), request_ids)
        result.feature_status = prepared.statuses
        result.input_violations = violations(n, groups, prepared.subs)
        result.route_revision = table.revision if table is not None else None
        latency = (time.perf_counter() - t0) * 1000
        for g, batch, (pred, proba) in zip(groups, prepared.subs, outs, strict=True):
            ids = request_ids if g.rows is None else [request_ids[i] for i in g.rows.tolist()]
            self.recorder.record(
                Answered(name, g.served.number, g.route, now, latency, ids, batch, pred, proba)
            )
        if table is not None and table.shadow is not None:
            job = ShadowJob(payload, groups[0].served, prepared.full, request_ids, now, on_invalid)
            self.shadow.start(table.shadow, job)
        return result
