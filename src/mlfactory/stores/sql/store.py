"""The metadata store over SQLAlchemy: SQLite (WAL) by default, PostgreSQL by URL."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update

from mlfactory.entities import (
    DatasetVersion,
    Event,
    Metric,
    ModelVersion,
    Run,
    RunStatus,
    VersionStatus,
)
from mlfactory.errors import ConflictError, NotFoundError
from mlfactory.stores.metadata import MetadataStore
from mlfactory.stores.sql import schema as t
from mlfactory.stores.sql.control import ControlStoreMixin
from mlfactory.stores.sql.engine import make_engine, migrate, retry_on_conflict, unavailable_as_error


def now() -> datetime:
    return datetime.now(UTC)


def _aware(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _dataset(row: Row[Any]) -> DatasetVersion:
    m = row._mapping
    return DatasetVersion(
        id=m["id"],
        source=m["source"],
        version=m["version"],
        content_hash=m["content_hash"],
        artifact=m["artifact"],
        n_rows=m["n_rows"],
        schema=m["schema"],
        profile=m["profile"],
        validation=m["validation"],
        valid=bool(m["valid"]),
        created_at=_aware(m["created_at"]),  # type: ignore[arg-type]
    )


def _event(row: Row[Any]) -> Event:
    m = row._mapping
    return Event(
        id=m["id"],
        time=_aware(m["time"]),  # type: ignore[arg-type]
        kind=m["kind"],
        actor=m["actor"],
        model=m["model"],
        payload=m["payload"],
        reason=m["reason"],
    )


def _version(row: Row[Any], aliases: Iterable[str] = ()) -> ModelVersion:
    m = row._mapping
    return ModelVersion(
        name=m["name"],
        version=m["version"],
        status=VersionStatus(m["status"]),
        run_id=m["run_id"],
        artifact=m["artifact"],
        flavor=m["flavor"],
        signature=m["signature"],
        metrics=m["metrics"],
        gates=m["gates"],
        profile=m["profile"],
        lineage=m["lineage"],
        card=m["card"],
        created_at=_aware(m["created_at"]),  # type: ignore[arg-type]
        aliases=tuple(sorted(aliases)),
    )


class SqlMetadataStore(ControlStoreMixin, MetadataStore):
    """Metadata in one SQL database; every write is one transaction."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        with unavailable_as_error(url):
            migrate(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with unavailable_as_error(self.url), self.engine.begin() as conn:
            yield conn

    # -- events -----------------------------------------------------------------------------------------

    @staticmethod
    def _insert_event(
        c: Connection, kind: str, actor: str, model: str | None, payload: dict[str, Any], reason: str
    ) -> Event:
        values = dict(time=now(), kind=kind, actor=actor, model=model, payload=payload, reason=reason)
        event_id = c.execute(insert(t.events).values(**values).returning(t.events.c.id)).scalar_one()
        return Event(id=event_id, **values)  # type: ignore[arg-type]

    def add_event(
        self, kind: str, *, actor: str, model: str | None = None, payload: dict[str, Any] | None = None,
        reason: str = "",
    ) -> Event:
        with self._tx() as c:
            return self._insert_event(c, kind, actor, model, payload or {}, reason)

    def list_events(
        self, *, model: str | None = None, since: datetime | None = None, kinds: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        q = select(t.events).order_by(t.events.c.id)
        if model is not None:
            q = q.where(t.events.c.model == model)
        if since is not None:
            q = q.where(t.events.c.time >= since)
        if kinds:
            q = q.where(t.events.c.kind.in_(list(kinds)))
        with self._tx() as c:
            rows = c.execute(q).all()
        events = [_event(r) for r in rows]
        return events[-limit:] if limit else events

    # -- datasets ---------------------------------------------------------------------------------------

    def add_dataset(
        self, *, source: str, content_hash: str, artifact: str, n_rows: int, schema: dict[str, Any],
        profile: dict[str, Any], validation: dict[str, Any], valid: bool,
    ) -> tuple[DatasetVersion, bool]:
        def attempt() -> tuple[DatasetVersion, bool]:
            with self._tx() as c:
                same = c.execute(
                    select(t.datasets).where(
                        t.datasets.c.source == source, t.datasets.c.content_hash == content_hash
                    )
                ).first()
                if same is not None:
                    return _dataset(same), False
                latest = c.execute(
                    select(func.max(t.datasets.c.version)).where(t.datasets.c.source == source)
                ).scalar()
                version = (latest or 0) + 1
                values = dict(
                    id=f"{source}-{content_hash[:12]}", source=source, version=version,
                    content_hash=content_hash, artifact=artifact, n_rows=n_rows, schema=schema,
                    profile=profile, validation=validation, valid=valid, created_at=now(),
                )
                c.execute(insert(t.datasets).values(**values))
                self._insert_event(
                    c, "dataset.ingested", "ingest", None,
                    {"dataset": values["id"], "source": source, "version": version, "valid": valid,
                     "rows": n_rows},
                    "" if valid else "; ".join(validation.get("reasons", [])),
                )
                return DatasetVersion(**values), True  # type: ignore[arg-type]

        return retry_on_conflict(attempt)

    def get_dataset(self, dataset_id: str) -> DatasetVersion:
        with self._tx() as c:
            row = c.execute(select(t.datasets).where(t.datasets.c.id == dataset_id)).first()
        if row is None:
            raise NotFoundError(f"no dataset version '{dataset_id}'; `mlfactory datasets list` shows them")
        return _dataset(row)

    def list_datasets(self, source: str | None = None) -> list[DatasetVersion]:
        q = select(t.datasets).order_by(t.datasets.c.source, t.datasets.c.version)
        if source is not None:
            q = q.where(t.datasets.c.source == source)
        with self._tx() as c:
            return [_dataset(r) for r in c.execute(q).all()]

    # -- runs -------------------------------------------------------------------------------------------

    def create_run(
        self, name: str, *, params: dict[str, Any] | None = None, tags: dict[str, str] | None = None,
        environment: dict[str, Any] | None = None, dataset_id: str | None = None,
    ) -> str:
        run_id = uuid.uuid4().hex
        with self._tx() as c:
            c.execute(
                insert(t.runs).values(
                    id=run_id, name=name, status=RunStatus.RUNNING.value, started_at=now(), ended_at=None,
                    params=params or {}, tags=tags or {}, environment=environment or {},
                    dataset_id=dataset_id, error=None,
                )
            )
        return run_id

    def _merge_run_json(self, run_id: str, column: str, values: dict[str, Any]) -> None:
        with self._tx() as c:
            current = c.execute(select(t.runs.c[column]).where(t.runs.c.id == run_id)).first()
            if current is None:
                raise NotFoundError(f"no run '{run_id}'")
            c.execute(update(t.runs).where(t.runs.c.id == run_id).values({column: {**current[0], **values}}))

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        self._merge_run_json(run_id, "params", params)

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        self._merge_run_json(run_id, "tags", tags)

    def log_metrics(self, run_id: str, metrics: Sequence[Metric]) -> None:
        if not metrics:
            return
        rows = [
            {"run_id": run_id, "key": m.key, "value": float(m.value), "step": int(m.step),
             "timestamp": float(m.timestamp)}
            for m in metrics
        ]
        with self._tx() as c:
            c.execute(insert(t.metrics), rows)

    def log_artifact(self, run_id: str, name: str, digest: str) -> None:
        with self._tx() as c:
            c.execute(delete(t.run_artifacts).where(t.run_artifacts.c.run_id == run_id,
                                                    t.run_artifacts.c.name == name))
            c.execute(insert(t.run_artifacts).values(run_id=run_id, name=name, digest=digest))

    def end_run(self, run_id: str, status: RunStatus, error: str | None = None) -> None:
        with self._tx() as c:
            c.execute(
                update(t.runs).where(t.runs.c.id == run_id).values(status=status.value, ended_at=now(), error=error)
            )

    def _runs(self, c: Connection, rows: Sequence[Row[Any]]) -> list[Run]:
        ids = [r._mapping["id"] for r in rows]
        latest: dict[str, dict[str, float]] = {i: {} for i in ids}
        arts: dict[str, dict[str, str]] = {i: {} for i in ids}
        for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
            q = (
                select(t.metrics.c.run_id, t.metrics.c.key, t.metrics.c.value)
                .where(t.metrics.c.run_id.in_(chunk))
                .order_by(t.metrics.c.step, t.metrics.c.id)
            )
            for run_id, key, value in c.execute(q):
                latest[run_id][key] = value
            q2 = select(t.run_artifacts).where(t.run_artifacts.c.run_id.in_(chunk))
            for run_id, name, digest in c.execute(q2):
                arts[run_id][name] = digest
        out = []
        for r in rows:
            m = r._mapping
            out.append(
                Run(
                    id=m["id"], name=m["name"], status=RunStatus(m["status"]),
                    started_at=_aware(m["started_at"]),  # type: ignore[arg-type]
                    ended_at=_aware(m["ended_at"]), params=m["params"], tags=m["tags"],
                    environment=m["environment"], dataset_id=m["dataset_id"], error=m["error"],
                    metrics=latest[m["id"]], artifacts=arts[m["id"]],
                )
            )
        return out

    def get_run(self, run_id: str) -> Run:
        with self._tx() as c:
            rows = c.execute(select(t.runs).where(t.runs.c.id.startswith(run_id, autoescape=True))).all()
            if len(rows) > 1 and not any(r._mapping["id"] == run_id for r in rows):
                raise ConflictError(f"run id prefix '{run_id}' matches {len(rows)} runs; give more characters")
            rows = [r for r in rows if r._mapping["id"] == run_id] or rows
            if not rows:
                raise NotFoundError(f"no run '{run_id}'; `mlfactory runs list` shows them")
            return self._runs(c, rows)[0]

    def list_runs(
        self, *, name: str | None = None, status: RunStatus | None = None, limit: int | None = None
    ) -> list[Run]:
        q = select(t.runs).order_by(t.runs.c.started_at.desc(), t.runs.c.id)
        if name is not None:
            q = q.where(t.runs.c.name == name)
        if status is not None:
            q = q.where(t.runs.c.status == status.value)
        if limit:
            q = q.limit(limit)
        with self._tx() as c:
            return self._runs(c, c.execute(q).all())

    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        q = (
            select(t.metrics.c.key, t.metrics.c.value, t.metrics.c.step, t.metrics.c.timestamp)
            .where(t.metrics.c.run_id == run_id, t.metrics.c.key == key)
            .order_by(t.metrics.c.step, t.metrics.c.id)
        )
        with self._tx() as c:
            return [Metric(*r) for r in c.execute(q)]

    # -- registry ---------------------------------------------------------------------------------------

    def create_model_version(
        self, name: str, *, status: VersionStatus, run_id: str | None, artifact: str, flavor: str,
        signature: dict[str, Any], metrics: dict[str, Any], gates: list[dict[str, Any]],
        profile: dict[str, Any], lineage: dict[str, Any], card: str, actor: str = "train",
    ) -> ModelVersion:
        def attempt() -> ModelVersion:
            with self._tx() as c:
                latest = c.execute(
                    select(func.max(t.model_versions.c.version)).where(t.model_versions.c.name == name)
                ).scalar()
                values = dict(
                    name=name, version=(latest or 0) + 1, status=status.value, run_id=run_id,
                    artifact=artifact, flavor=flavor, signature=signature, metrics=metrics, gates=gates,
                    profile=profile, lineage=lineage, card=card.replace("{version}", str((latest or 0) + 1)),
                    created_at=now(),
                )
                c.execute(insert(t.model_versions).values(**values))
                failed = [g["metric"] for g in gates if not g.get("passed")]
                self._insert_event(
                    c, "model.registered", actor, name,
                    {"version": values["version"], "status": status.value, "run": run_id},
                    f"failed gates: {', '.join(failed)}" if failed else "passed every gate",
                )
                row = c.execute(
                    select(t.model_versions).where(
                        t.model_versions.c.name == name, t.model_versions.c.version == values["version"]
                    )
                ).one()
                return _version(row)

        return retry_on_conflict(attempt)

    def _aliases_of(self, c: Connection, name: str) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for alias, version in c.execute(
            select(t.aliases.c.alias, t.aliases.c.version).where(t.aliases.c.name == name)
        ):
            out.setdefault(version, []).append(alias)
        return out

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        with self._tx() as c:
            row = c.execute(
                select(t.model_versions).where(
                    t.model_versions.c.name == name, t.model_versions.c.version == version
                )
            ).first()
            if row is None:
                known = self._version_numbers(c, name)
                if not known:
                    raise NotFoundError(self._unknown_model(c, name))
                raise NotFoundError(f"model '{name}' has no version {version} (versions: {known})")
            return _version(row, self._aliases_of(c, name).get(version, []))

    def _version_numbers(self, c: Connection, name: str) -> list[int]:
        q = select(t.model_versions.c.version).where(t.model_versions.c.name == name)
        return sorted(v for (v,) in c.execute(q))

    def _unknown_model(self, c: Connection, name: str) -> str:
        names = sorted({n for (n,) in c.execute(select(t.model_versions.c.name).distinct())})
        return f"no model named '{name}' (registered: {', '.join(names) or 'none yet; run `mlfactory train`'})"

    def list_model_versions(self, name: str) -> list[ModelVersion]:
        with self._tx() as c:
            rows = c.execute(
                select(t.model_versions).where(t.model_versions.c.name == name).order_by(t.model_versions.c.version)
            ).all()
            if not rows:
                raise NotFoundError(self._unknown_model(c, name))
            aliases = self._aliases_of(c, name)
            return [_version(r, aliases.get(r._mapping["version"], [])) for r in rows]

    def list_model_names(self) -> list[str]:
        with self._tx() as c:
            return sorted(n for (n,) in c.execute(select(t.model_versions.c.name).distinct()))

    def get_aliases(self, name: str | None = None) -> dict[tuple[str, str], int]:
        q = select(t.aliases.c.name, t.aliases.c.alias, t.aliases.c.version)
        if name is not None:
            q = q.where(t.aliases.c.name == name)
        with self._tx() as c:
            return {(n, a): v for n, a, v in c.execute(q)}

    def move_alias(
        self, name: str, alias: str, version: int | None, *, kind: str, actor: str, reason: str,
        payload: dict[str, Any] | None = None, expect: int | None | bool = False,
    ) -> Event:
        with self._tx() as c:
            current = c.execute(
                select(t.aliases.c.version).where(t.aliases.c.name == name, t.aliases.c.alias == alias)
            ).scalar()
            if expect is not False and current != expect:
                raise ConflictError(
                    f"alias '{alias}' of '{name}' moved meanwhile (now version {current}, expected {expect}); "
                    "look at `mlfactory models history` and try again"
                )
            if version is not None:
                exists = c.execute(
                    select(t.model_versions.c.version).where(
                        t.model_versions.c.name == name, t.model_versions.c.version == version
                    )
                ).first()
                if exists is None:
                    raise NotFoundError(f"model '{name}' has no version {version}")
            c.execute(delete(t.aliases).where(t.aliases.c.name == name, t.aliases.c.alias == alias))
            if version is not None:
                c.execute(insert(t.aliases).values(name=name, alias=alias, version=version, updated_at=now()))
            return self._insert_event(
                c, kind, actor, name, {"alias": alias, "from": current, "to": version, **(payload or {})}, reason
            )

    # -- serving ----------------------------------------------------------------------------------------

    def get_routing_policies(self, name: str | None = None) -> dict[str, dict[str, Any]]:
        q = select(t.routing_policies.c.name, t.routing_policies.c.policy)
        if name is not None:
            q = q.where(t.routing_policies.c.name == name)
        with self._tx() as c:
            return {n: p for n, p in c.execute(q)}

    def set_routing_policy(
        self, name: str, policy: dict[str, Any] | None, *, actor: str, reason: str = "",
    ) -> Event:
        with self._tx() as c:
            current = c.execute(
                select(t.routing_policies.c.policy).where(t.routing_policies.c.name == name)
            ).scalar()
            c.execute(delete(t.routing_policies).where(t.routing_policies.c.name == name))
            if policy is not None:
                c.execute(insert(t.routing_policies).values(name=name, policy=policy, updated_at=now()))
            kind = "routing.set" if policy is not None else "routing.cleared"
            return self._insert_event(c, kind, actor, name, {"from": current, "to": policy}, reason)

    def add_feedback(
        self, labels: Sequence[tuple[str, Any]], *, actor: str, model: str | None = None,
    ) -> int:
        latest = dict(labels)  # a request id given twice keeps its last label
        if not latest:
            return 0
        ids = list(latest)
        stamp = now()
        with self._tx() as c:
            for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
                c.execute(delete(t.feedback).where(t.feedback.c.request_id.in_(chunk)))
            rows = [{"request_id": rid, "label": latest[rid], "model": model, "received_at": stamp,
                     "actor": actor} for rid in ids]
            c.execute(insert(t.feedback), rows)
            self._insert_event(c, "feedback.received", actor, model, {"labels": len(ids)}, "")
        return len(ids)

    def get_feedback(
        self, request_ids: Sequence[str] | None = None, *, since: datetime | None = None,
    ) -> list[dict[str, Any]]:
        base = select(t.feedback)
        if since is not None:
            base = base.where(t.feedback.c.received_at >= since)
        out: list[dict[str, Any]] = []
        with self._tx() as c:
            if request_ids is None:
                rows = c.execute(base).all()
            else:
                ids = list(request_ids)
                rows = []
                for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
                    rows.extend(c.execute(base.where(t.feedback.c.request_id.in_(chunk))).all())
            for r in rows:
                m = dict(r._mapping)
                m["received_at"] = _aware(m["received_at"])
                out.append(m)
        return out

    # -- features (issue 4) ------------------------------------------------------------------------------

    def register_feature_view(
        self, name: str, code_version: str, *, entity: str, source: str, definition: dict[str, Any],
    ) -> bool:
        def attempt() -> bool:
            with self._tx() as c:
                key = (t.feature_views.c.name == name) & (t.feature_views.c.code_version == code_version)
                if c.execute(select(t.feature_views.c.name).where(key)).first():
                    return False
                c.execute(insert(t.feature_views).values(
                    name=name, code_version=code_version, entity=entity, source=source, definition=definition,
                    created_at=now()))
                return True

        return retry_on_conflict(attempt)

    def list_feature_views(self, name: str | None = None) -> list[dict[str, Any]]:
        q = select(t.feature_views).order_by(t.feature_views.c.created_at, t.feature_views.c.name)
        if name is not None:
            q = q.where(t.feature_views.c.name == name)
        with self._tx() as c:
            return [{**r._mapping, "created_at": _aware(r.created_at)} for r in c.execute(q).all()]

    def get_feature_table(self, view: str, code_version: str, dataset_id: str) -> dict[str, Any] | None:
        ft = t.feature_tables.c
        with self._tx() as c:
            key = (ft.view == view) & (ft.code_version == code_version) & (ft.dataset_id == dataset_id)
            r = c.execute(select(t.feature_tables).where(key)).first()
        return None if r is None else {**r._mapping, "backfills": bool(r.backfills)}

    def add_feature_table(
        self, view: str, code_version: str, dataset_id: str, *, digest: str, n_rows: int, backfills: bool,
    ) -> None:
        def attempt() -> None:
            if self.get_feature_table(view, code_version, dataset_id) is not None:
                return
            with self._tx() as c:
                c.execute(insert(t.feature_tables).values(
                    view=view, code_version=code_version, dataset_id=dataset_id, digest=digest, n_rows=n_rows,
                    backfills=backfills, created_at=now()))

        retry_on_conflict(attempt)

    def add_training_set(
        self, training_set_id: str, *, digest: str, n_rows: int, spec: dict[str, Any],
    ) -> bool:
        def attempt() -> bool:
            with self._tx() as c:
                ts = t.training_sets.c
                if c.execute(select(ts.id).where(ts.id == training_set_id)).first():
                    return False
                c.execute(insert(t.training_sets).values(
                    id=training_set_id, digest=digest, n_rows=n_rows, spec=spec, created_at=now()))
                return True

        return retry_on_conflict(attempt)

    def get_training_set(self, training_set_id: str) -> dict[str, Any]:
        with self._tx() as c:
            r = c.execute(select(t.training_sets).where(t.training_sets.c.id == training_set_id)).first()
        if r is None:
            raise NotFoundError(f"no training set '{training_set_id}'")
        return {**r._mapping, "created_at": _aware(r.created_at)}

    def add_skew_report(self, model: str, report: dict[str, Any], *, actor: str) -> int:
        with self._tx() as c:
            row = insert(t.feature_skew_reports).values(model=model, created_at=now(), report=report)
            rid = c.execute(row.returning(t.feature_skew_reports.c.id)).scalar_one()
            summary = {"report": rid, "rows": report.get("rows"),
                       "max_mismatch_rate": report.get("max_mismatch_rate")}
            self._insert_event(c, "features.skew", actor, model, summary, "")
        return int(rid)

    def list_skew_reports(self, model: str, limit: int | None = None) -> list[dict[str, Any]]:
        s = t.feature_skew_reports.c
        q = select(t.feature_skew_reports).where(s.model == model).order_by(s.created_at.desc(), s.id.desc())
        if limit:
            q = q.limit(limit)
        with self._tx() as c:
            return [{**r._mapping, "created_at": _aware(r.created_at)} for r in c.execute(q).all()]
    # -- end features -----------------------------------------------------------------------------------

    # -- monitoring (issue 5) -----------------------------------------------------------------------------

    def add_monitor_report(
        self, *, model: str, version: int | None, route: str | None, window_start: datetime | None,
        window_end: datetime | None, rows: int, status: str, metrics: dict[str, Any], report: dict[str, Any],
        actor: str,
    ) -> str:
        report_id = uuid.uuid4().hex
        with self._tx() as c:
            c.execute(insert(t.monitor_reports).values(
                id=report_id, model=model, version=version, route=route, created_at=now(),
                window_start=window_start, window_end=window_end, rows=rows, status=status, metrics=metrics,
                report=report))
            self._insert_event(c, "monitor.report", actor, model, {
                "report": report_id, "version": version, "route": route, "rows": rows, "status": status,
                "drift_share": metrics.get("drift.share"), "dataset_drift": metrics.get("drift.dataset")}, "")
        return report_id

    @staticmethod
    def _monitor_row(r: Row[Any], full: bool) -> dict[str, Any]:
        m = dict(r._mapping)
        for k in ("created_at", "window_start", "window_end"):
            m[k] = _aware(m[k])
        if not full:
            m.pop("report", None)
        return m

    def list_monitor_reports(
        self, model: str | None = None, *, version: int | None = None, route: str | None = None,
        since: datetime | None = None, limit: int | None = None, full: bool = False,
    ) -> list[dict[str, Any]]:
        s = t.monitor_reports.c
        cols = list(t.monitor_reports.c) if full else [c for c in t.monitor_reports.c if c.name != "report"]
        q = select(*cols).order_by(s.created_at.desc(), s.id.desc())
        for column, value in ((s.model, model), (s.version, version), (s.route, route)):
            if value is not None:
                q = q.where(column == value)
        if since is not None:
            q = q.where(s.created_at >= since)
        if limit:
            q = q.limit(limit)
        with self._tx() as c:
            rows = [self._monitor_row(r, full) for r in c.execute(q).all()]
        return rows[::-1]

    def get_monitor_report(self, report_id: str) -> dict[str, Any]:
        with self._tx() as c:
            r = c.execute(select(t.monitor_reports).where(t.monitor_reports.c.id == report_id)).first()
        if r is None:
            raise NotFoundError(
                f"no monitoring report '{report_id}'; list them with `mlfactory monitor history MODEL`")
        return self._monitor_row(r, True)
    # -- end monitoring -----------------------------------------------------------------------------------
