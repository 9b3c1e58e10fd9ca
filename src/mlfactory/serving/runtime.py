"""The serving runtime: loaded versions, route tables, hot swap, prediction and logging. No web code.

A background thread calls :meth:`ServingRuntime.refresh` every ``reload_interval`` seconds: it reads every
alias and routing policy from the metadata store in one snapshot (so changes made by the CLI, the admin API
or another machine are seen), loads the versions they name, and swaps each model's :class:`RouteTable` in one
assignment. A request takes the table once at its start, so it finishes on the versions it started on. Each
table carries the revision it serves (the id of the model's newest alias or routing event in that snapshot),
and a routed answer reports it, so which routing state made an answer is known exactly. A
version that fails to load never replaces the one serving: the model keeps its previous table and the
failure is reported by :meth:`status` (and logged once as a ``serving.load_failed`` event).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from mlfactory.config import ServerConfig
from mlfactory.errors import MLFactoryError, NotFoundError, ValidationError
from mlfactory.registry import PRODUCTION, Registry
from mlfactory.registry.inputs import Batch, Payload, payload_field, payload_rows, take_payload
from mlfactory.registry.rules import OnInvalid
from mlfactory.serving.policy import RoutingPolicy
from mlfactory.serving.predlog import PredictionLog, RequestIds
from mlfactory.serving.router import RouteTable, build_table
from mlfactory.serving.served import ModelFailedError, ServedVersion

if TYPE_CHECKING:
    from mlfactory.serving.lookup import OnlineFeatures

log = logging.getLogger("mlfactory.serving")
Observer = Callable[[str, int, str, int], None]


class ModelUnavailableError(MLFactoryError):
    """A model is known but cannot answer now: not loaded yet, or its version failed to load."""

    http_status = 503


@dataclass
class PredictResult:
    """One request's answer: per-row predictions, probabilities, versions, routes and request ids."""

    model: str
    predictions: np.ndarray
    probabilities: np.ndarray | None
    classes: list[Any] | None
    versions: np.ndarray
    routes: list[str]
    request_ids: list[str]
    feature_status: list[str | None] | None = None  # per row, when a version looked features up online
    input_violations: list[list[str]] | None = None  # per row, the declared rules it broke (flag mode)
    route_revision: int | None = None  # routed answers: the revision of the route table that routed them

    @property
    def version(self) -> int | None:
        """The version that answered every row, or None when rows went to several."""
        first = int(self.versions[0])
        return first if bool((self.versions == first).all()) else None


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
        self.observers: list[Observer] = []
        self.loaded_once = False
        self._wanted: set[str] = set()
        self.last_refresh: datetime | None = None
        self.refresh_error: str | None = None
        self.shadow_skipped = 0
        self.shadow_failed = 0
        self._cache: dict[tuple[str, int], ServedVersion] = {}
        self._extra: OrderedDict[tuple[str, int], None] = OrderedDict()
        self._reported: set[tuple[str, int]] = set()
        self._cache_lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._failure_lock = threading.Lock()
        self._predict_failures: dict[tuple[str, int, str], int] = {}
        self._thread: threading.Thread | None = None
        self._shadow_tasks: set[asyncio.Task[None]] = set()

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

    async def _counted(
        self, name: str, sv: ServedVersion, route: str, batch: Batch
    ) -> tuple[np.ndarray, np.ndarray | None]:
        try:
            return await sv.predict(batch)
        except ModelFailedError:
            with self._failure_lock:
                key = (name, sv.number, route)
                self._predict_failures[key] = self._predict_failures.get(key, 0) + batch.n
            raise

    def flush_failures(self) -> None:
        """Record the rows each version failed on since the last flush, as one event per version and route,
        so the controller can compare error rates across every replica."""
        with self._failure_lock:
            counts, self._predict_failures = self._predict_failures, {}
        for (name, version, route), rows in sorted(counts.items()):
            self.metadata.add_event(
                "serving.predict_failed",
                actor=self.actor,
                model=name,
                payload={"version": version, "route": route, "rows": rows},
                reason=f"{name}/{version} failed on {rows} rows ({route})",
            )

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait (bounded) for shadow predictions still running."""
        if self._shadow_tasks:
            await asyncio.wait(list(self._shadow_tasks), timeout=timeout)

    def stop(self) -> None:
        """Stop refreshing and close every predict thread (after their queued work)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with contextlib.suppress(MLFactoryError):
            self.flush_failures()
        with self._cache_lock:
            served, self._cache = list(self._cache.values()), {}
        for sv in served:
            sv.close()

    # -- loading and hot swap -------------------------------------------------------------------------

    def _ensure(self, name: str, version: int) -> ServedVersion:
        key = (name, version)
        with self._cache_lock:
            sv = self._cache.get(key)
        if sv is not None:
            return sv
        mv = self.metadata.get_model_version(name, version)
        sv = ServedVersion(self.registry.load(mv), self.config.batching)
        with self._cache_lock:
            if key in self._cache:  # loaded meanwhile by another caller
                sv.close()
                return self._cache[key]
            self._cache[key] = sv
        log.info("loaded %s", sv.ref)
        return sv

    def _try_load(self, name: str, version: int, failures: dict[str, str]) -> ServedVersion | None:
        try:
            return self._ensure(name, version)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            failures[f"{name}/{version}"] = reason
            if (name, version) not in self._reported:
                self._reported.add((name, version))
                log.error(
                    "cannot load %s/%s; it keeps serving what it served before: %s", name, version, reason
                )
                with contextlib.suppress(MLFactoryError):
                    self.metadata.add_event(
                        "serving.load_failed",
                        actor=self.actor,
                        model=name,
                        payload={"version": version},
                        reason=reason,
                    )
            return None

    def refresh(self) -> dict[str, Any]:
        """Read aliases and routing policies, load what they name, and swap route tables in."""
        with self._refresh_lock:
            aliases, policies, revisions = self.metadata.routing_state()
            names = {n for (n, a) in aliases if a == PRODUCTION} | set(policies)
            tables: dict[str, RouteTable] = {}
            failures: dict[str, str] = {}
            for name in sorted(names):
                production, stored = aliases.get((name, PRODUCTION)), policies.get(name)
                table = self._table_for(name, production, stored, revisions.get(name, 0), failures)
                if table is not None:
                    tables[name] = table
                elif name in self.tables:
                    tables[name] = self.tables[name]  # keep serving what we served
            self.tables = tables
            self._wanted = names
            self.aliases = aliases
            self.failures = failures
            self.loaded_once = True
            self.last_refresh = datetime.now(UTC)
            self.refresh_error = None
            self._evict()
            return self.status()

    def _table_for(
        self,
        name: str,
        production: int | None,
        stored: dict[str, Any] | None,
        revision: int,
        failures: dict[str, str],
    ) -> RouteTable | None:
        try:
            policy = RoutingPolicy.from_dict(stored)
        except MLFactoryError as exc:
            failures[name] = f"stored routing policy is invalid: {exc}"
            return None
        if not policy.ab and production is None:
            if policy.canary is not None:
                failures[name] = f"a canary is set but '{name}' has no production alias"
            return None
        needed = {production} if production is not None and not policy.ab else set()
        needed |= {v for v, _ in policy.ab} | ({policy.canary} if policy.canary is not None else set())
        served = {v: self._try_load(name, v, failures) for v in sorted(needed)}  # type: ignore[type-var]
        if any(sv is None for sv in served.values()):
            primary = served.get(production) if production is not None else None
            if name in self.tables or primary is None or production is None:
                return None  # keep serving what we served
            # nothing served yet (a fresh server): answer with production alone rather than not at all
            return build_table(name, RoutingPolicy(), production, {production: primary}, None, revision)
        shadow = self._try_load(name, policy.shadow, failures) if policy.shadow is not None else None
        old = self.tables.get(name)
        if (
            old is not None
            and old.production == production
            and old.policy == policy
            and old.shadow is shadow
            and all(r.served is served[r.served.number] for r in old.routes)
        ):
            return old if old.revision == revision else replace(old, revision=revision)
        return build_table(name, policy, production, served, shadow, revision)  # type: ignore[arg-type]

    def _evict(self) -> None:
        pinned = {(t.model, v) for t in self.tables.values() for v in t.versions()}
        with self._cache_lock:
            for key in self._cache:  # versions that just lost their route stay loaded for a quick way back
                if key not in pinned and key not in self._extra:
                    self._extra[key] = None
            while len(self._extra) > self.config.model_cache:
                self._extra.popitem(last=False)
            drop = [k for k in self._cache if k not in pinned and k not in self._extra]
            closing = [self._cache.pop(k) for k in drop]
        for sv in closing:
            sv.close()  # requests still holding it fall back to predicting inline

    # -- state ----------------------------------------------------------------------------------------

    def ready(self) -> bool:
        """True once every model the store says to serve has a loaded route table."""
        return self.loaded_once and self._wanted <= self.tables.keys()

    def status(self) -> dict[str, Any]:
        """What is served: per model its production version, routes with shares, shadow; load failures."""
        models = {}
        for name, t in sorted(self.tables.items()):
            prev = 0.0
            routes = []
            for r in t.routes:
                share = round((r.upper - prev) * 100, 4)
                routes.append({"route": r.name, "version": r.served.number, "percent": share})
                prev = r.upper
            models[name] = {
                "production": t.production,
                "routes": routes,
                "key": t.policy.key,
                "shadow": t.shadow.number if t.shadow else None,
                "revision": t.revision,
            }
        return {
            "ready": self.ready(),
            "models": models,
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

    # -- prediction -----------------------------------------------------------------------------------

    async def _complete(
        self, name: str, sv: ServedVersion, payload: Payload, n: int
    ) -> tuple[Payload, list[str] | None]:
        """The payload with ``sv``'s online features merged in and each row's status (unchanged, None,
        for a version without a feature service)."""
        if sv.features is None:
            return payload, None
        if self.features is None:
            raise ModelUnavailableError(
                f"{sv.ref} looks features up online, but this runtime has no online store; serve it with "
                "`mlfactory serve` (which opens stores.online)"
            )
        return await asyncio.to_thread(self.features.complete, name, sv.features, payload, n)

    async def served_version(self, name: str, version: int) -> ServedVersion:
        key = (name, version)
        with self._cache_lock:
            sv = self._cache.get(key)
            if key in self._extra:
                self._extra.move_to_end(key)
        if sv is not None:
            return sv
        try:
            sv = await asyncio.to_thread(self._ensure, name, version)
        except MLFactoryError as exc:
            if isinstance(exc, NotFoundError):
                raise
            log.error("cannot load %s/%s: %s", name, version, exc)
            raise ModelUnavailableError(
                f"model {name}/{version} cannot be loaded ({type(exc).__name__}); "
                "the server log has the details"
            ) from None
        with self._cache_lock:
            self._extra[key] = None
        return sv

    def decode_records(self, name: str, body: bytes) -> tuple[Payload, Any] | None:
        """A routed request's native records body decoded straight into numbers (see
        :meth:`InputSpec.decode_records`), when every version it may reach takes the same numeric inputs
        and nothing is looked up by a field of the rows (an A/B key, online features); else None."""
        table = self.tables.get(name)
        spec = table.records_spec if table is not None else None
        return spec.decode_records(body) if spec is not None else None

    def _groups(
        self, name: str, payload: Payload, n: int, alias: str | None, version: int | None, key: Any
    ) -> tuple[list[tuple[ServedVersion, str, np.ndarray | None]], RouteTable | None]:
        if version is not None or alias is not None:
            raise AssertionError("explicit versions are resolved by the caller")
        table = self.tables.get(name)
        if table is None:
            if any(f.startswith(f"{name}/") or f == name for f in self.failures):
                raise ModelUnavailableError(f"model '{name}' failed to load; the server log has the details")
            served = ", ".join(sorted(self.tables)) or "none"
            raise NotFoundError(
                f"model '{name}' is not served (served: {served}); a model is served once it "
                f"has a '{PRODUCTION}' alias or a routing policy"
            )
        if len(table.routes) == 1:
            return [(table.routes[0].served, table.routes[0].name, None)], table
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
                groups.append((route.served, route.name, None if len(rows) == n else rows))
        return groups, table

    async def _batches(
        self,
        name: str,
        groups: list[tuple[ServedVersion, str, np.ndarray | None]],
        payload: Payload,
        n: int,
        on_invalid: OnInvalid = "reject",
    ) -> tuple[Batch | None, list[Batch], list[str | None] | None]:
        """Each group's checked rows (online features merged in) and each row's feature status.

        When every group's version takes the same inputs, the request is completed and checked once (the
        full batch is returned for the shadow); otherwise each group's rows are completed and checked on
        their own, so one version's missing-feature policy never refuses rows another version answers.
        """
        primary = groups[0][0]
        if n > self.config.max_rows:  # refuse before looking anything up
            primary.spec.check(payload, max_rows=self.config.max_rows)
        if all(sv.same_inputs(primary) for sv, _, _ in groups):
            completed, found = await self._complete(name, primary, payload, n)
            full = primary.spec.check(completed, max_rows=self.config.max_rows, on_invalid=on_invalid)
            subs = [full if rows is None else full.take(rows) for _, _, rows in groups]
            return full, subs, None if found is None else list(found)
        subs = []
        statuses: list[str | None] | None = None
        for sv, _, rows in groups:
            part = payload if rows is None else take_payload(payload, rows)
            part, found = await self._complete(name, sv, part, payload_rows(part))
            subs.append(sv.spec.check(part, on_invalid=on_invalid))
            if found is not None:
                statuses = statuses or [None] * n
                for i, st in zip(range(n) if rows is None else rows.tolist(), found, strict=True):
                    statuses[i] = st
        return None, subs, statuses

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
        if version is not None:
            groups: list[tuple[ServedVersion, str, np.ndarray | None]] = [
                (await self.served_version(name, version), "version", None)
            ]
        elif alias is not None:
            number = self.aliases.get((name, alias))
            if number is None:
                known = sorted(a for (m, a) in self.aliases if m == name)
                raise NotFoundError(
                    f"model '{name}' has no alias '{alias}' (aliases: {', '.join(known) or 'none'})"
                )
            route = alias if alias == PRODUCTION else f"alias:{alias}"
            groups = [(await self.served_version(name, number), route, None)]
        else:
            groups, table = self._groups(name, payload, n, alias, version, key)
        primary = groups[0][0]
        full, subs, statuses = await self._batches(name, groups, payload, n, on_invalid)
        outs = await asyncio.gather(
            *(self._counted(name, sv, route, b) for (sv, route, _), b in zip(groups, subs, strict=True))
        )
        request_ids = self.ids.make(n, now)
        result = self._assemble(name, n, groups, outs, request_ids)
        result.feature_status = statuses
        result.input_violations = _violations(n, groups, subs)
        result.route_revision = table.revision if table is not None else None
        latency = (time.perf_counter() - t0) * 1000
        for (sv, route, rows), batch, (pred, proba) in zip(groups, subs, outs, strict=True):
            ids = request_ids if rows is None else [request_ids[i] for i in rows.tolist()]
            if self.log is not None:
                self.log.append(
                    model=name,
                    version=sv.number,
                    route=route,
                    time=now,
                    latency_ms=latency,
                    request_ids=ids,
                    batch=batch,
                    predictions=pred,
                    probabilities=proba,
                )
            for observe in self.observers:
                observe(name, sv.number, route, batch.n)
        if table is not None and table.shadow is not None:
            self._start_shadow(table.shadow, primary, payload, full, request_ids, now, on_invalid)
        return result

    @staticmethod
    def _assemble(
        name: str,
        n: int,
        groups: list[tuple[ServedVersion, str, np.ndarray | None]],
        outs: list[tuple[np.ndarray, np.ndarray | None]],
        request_ids: list[str],
    ) -> PredictResult:
        if len(groups) == 1:
            sv, route, _ = groups[0]
            pred, proba = outs[0]
            return PredictResult(
                name, pred, proba, sv.classes, np.full(n, sv.number), [route] * n, request_ids
            )
        dtypes = {np.asarray(p).dtype for p, _ in outs}
        pred_all = np.empty(n, dtype=dtypes.pop() if len(dtypes) == 1 else object)
        widths = {None if p is None else p.shape[1] for _, p in outs}
        proba_all = np.empty((n, widths.pop())) if len(widths) == 1 and None not in widths else None  # type: ignore[arg-type,type-var]
        versions = np.empty(n, dtype=np.int64)
        routes: list[str] = [""] * n
        for (sv, route, rows), (pred, proba) in zip(groups, outs, strict=True):
            pred_all[rows] = pred
            if proba_all is not None:
                proba_all[rows] = proba
            versions[rows] = sv.number
            for i in rows.tolist():  # type: ignore[union-attr]
                routes[i] = route
        return PredictResult(name, pred_all, proba_all, groups[0][0].classes, versions, routes, request_ids)

    # -- shadow ---------------------------------------------------------------------------------------

    def _start_shadow(
        self,
        shadow: ServedVersion,
        primary: ServedVersion,
        payload: Payload,
        full: Batch | None,
        request_ids: list[str],
        now: float,
        on_invalid: OnInvalid = "reject",
    ) -> None:
        if len(self._shadow_tasks) >= self.config.shadow_queue:
            self.shadow_skipped += 1
            return
        task = asyncio.get_running_loop().create_task(
            self._shadow(shadow, primary, payload, full, request_ids, now, on_invalid)
        )
        self._shadow_tasks.add(task)
        task.add_done_callback(self._shadow_tasks.discard)

    async def _shadow(
        self,
        shadow: ServedVersion,
        primary: ServedVersion,
        payload: Payload,
        full: Batch | None,
        request_ids: list[str],
        now: float,
        on_invalid: OnInvalid = "reject",
    ) -> None:
        t0 = time.perf_counter()
        try:
            if full is not None and shadow.same_inputs(primary):
                batch = full
            else:
                completed, _ = await self._complete(shadow.name, shadow, payload, payload_rows(payload))
                batch = shadow.spec.check(completed, on_invalid=on_invalid)
            pred, proba = await shadow.predict(batch)
        except Exception as exc:  # a shadow never affects the real answer
            self.shadow_failed += 1
            log.warning("shadow %s failed: %s", shadow.ref, exc)
            return
        if self.log is not None:
            self.log.append(
                model=shadow.name,
                version=shadow.number,
                route="shadow",
                time=now,
                latency_ms=(time.perf_counter() - t0) * 1000,
                request_ids=request_ids,
                batch=batch,
                predictions=pred,
                probabilities=proba,
            )
        for observe in self.observers:
            observe(shadow.name, shadow.number, "shadow", batch.n)


def _violations(
    n: int, groups: list[tuple[ServedVersion, str, np.ndarray | None]], subs: list[Batch]
) -> list[list[str]] | None:
    """Per request row, the declared rules it broke, when any row was flagged (else None)."""
    if all(b.violations is None for b in subs):
        return None
    if len(groups) == 1:
        return subs[0].flagged()
    out: list[list[str]] = [[] for _ in range(n)]
    for (_, _, rows), batch in zip(groups, subs, strict=True):
        flagged = batch.flagged()
        if flagged is not None:
            for i, rules in zip(range(n) if rows is None else rows.tolist(), flagged, strict=True):
                out[i] = rules
    return out
