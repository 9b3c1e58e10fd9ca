"""An MLflow registered model read straight from MLflow's database, without the mlflow package.

mlflow pins its own pandas and NumPy ranges, so mlfactory does not depend on it: the tables its SQL store
writes (``model_versions``, ``registered_model_aliases``, ``runs``, ``metrics``, ``params``, ``tags``, and
MLflow 3's ``logged_models`` with their params and metrics) are read with SQLAlchemy, reflected so that
columns added by later MLflow releases (``workspace``, ...) do not matter.

Where a version's files are differs between layouts, and is resolved here to a local folder:

- MLflow 3 registers a *logged model*: ``source`` is ``models:/m-<id>`` and ``storage_location`` (or the
  logged model's ``artifact_location``) its folder;
- MLflow 2 registers a run's artifact: ``source`` is ``runs:/<run>/<path>`` (under the run's
  ``artifact_uri``) or the artifact's own URI.

Only artifacts on the local file system (a path or ``file://``) are read; a tracking server's
``mlflow-artifacts:`` or a bucket is named in the error.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import sqlalchemy as sa

from mlfactory.errors import ConfigError, NotFoundError, StoreUnavailableError

TABLES = (
    "model_versions",
    "registered_model_aliases",
    "model_version_tags",
    "runs",
    "metrics",
    "params",
    "tags",
    "logged_models",
    "logged_model_params",
    "logged_model_metrics",
)


@dataclass(frozen=True)
class MetricValue:
    key: str
    value: float
    step: int
    timestamp_ms: int


@dataclass(frozen=True)
class MlflowRun:
    """One MLflow run: what it logged."""

    id: str
    name: str
    status: str
    params: dict[str, str]
    tags: dict[str, str]
    metrics: list[MetricValue]
    start_ms: int | None = None  # when MLflow ran it (epoch milliseconds)
    end_ms: int | None = None

    def latest(self) -> dict[str, float]:
        """Each metric's value at its highest step (the last logged among equal steps), as MLflow shows."""
        out: dict[str, tuple[int, int, float]] = {}
        for m in self.metrics:
            key = (m.step, m.timestamp_ms, m.value)
            if m.key not in out or key[:2] >= out[m.key][:2]:
                out[m.key] = key
        return {k: v[2] for k, v in out.items()}


@dataclass(frozen=True)
class MlflowVersion:
    """One version of a registered model, its files resolved to a local folder."""

    version: int
    source: str
    run_id: str | None
    stage: str | None
    model_id: str | None  # MLflow 3's logged model, when the version is one
    folder: Path
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    params: dict[str, str] = field(default_factory=dict)  # the logged model's own (MLflow 3)
    metrics: dict[str, float] = field(default_factory=dict)  # the logged model's own (MLflow 3)


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    versions: list[MlflowVersion]  # in MLflow's version order
    runs: dict[str, MlflowRun]


def shown_uri(tracking_uri: str) -> str:
    """The tracking URI as recorded and printed: without its password."""
    try:
        return sa.engine.make_url(tracking_uri).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return tracking_uri


def _engine(tracking_uri: str) -> sa.Engine:
    scheme = urlparse(tracking_uri).scheme
    if scheme in ("", "file", "http", "https", "databricks") or "://" not in tracking_uri:
        raise ConfigError(
            f"--tracking-uri '{shown_uri(tracking_uri)}' is not an MLflow database; importing reads MLflow's "
            "SQL store (sqlite:///mlflow.db, postgresql://..., mysql://...), not a ./mlruns folder or a "
            "tracking server"
        )
    try:
        url = sa.engine.make_url(tracking_uri)
        if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
            raise NotFoundError(f"no MLflow database at {url.database}; check --tracking-uri")
        return sa.create_engine(url)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise ConfigError(f"cannot open the MLflow database '{shown_uri(tracking_uri)}': {exc}") from None


def _local(uri: str) -> Path | None:
    """A local folder for an artifact URI, or None when it is not on this file system."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and uri[1:3] in (":\\", ":/")):  # a drive letter
        return Path(uri)
    return None


def _rows(conn: sa.Connection, tables: dict[str, sa.Table], name: str, where: Any = None) -> list[Any]:
    if name not in tables:  # an older MLflow without this table (logged models are MLflow 3)
        return []
    query = sa.select(tables[name])
    return list(conn.execute(query if where is None else query.where(where(tables[name].c))))


def _run(conn: sa.Connection, tables: dict[str, sa.Table], run_id: str) -> MlflowRun | None:
    found = _rows(conn, tables, "runs", lambda c: c.run_uuid == run_id)
    if not found:
        return None
    r = found[0]._mapping

    def kv(table: str) -> dict[str, str]:
        return {x.key: x.value for x in _rows(conn, tables, table, lambda c: c.run_uuid == run_id)}

    metrics = [
        MetricValue(
            m.key,
            float("nan") if getattr(m, "is_nan", False) else float(m.value),
            int(m.step or 0),
            int(m.timestamp or 0),
        )
        for m in _rows(conn, tables, "metrics", lambda c: c.run_uuid == run_id)
    ]
    return MlflowRun(
        run_id,
        str(r.get("name") or ""),
        str(r.get("status") or ""),
        kv("params"),
        kv("tags"),
        metrics,
        start_ms=r.get("start_time"),
        end_ms=r.get("end_time"),
    )


def _folder(row: Any, runs: dict[str, Any], logged: dict[str, Any]) -> Path:
    """Where a version's files are, from its storage location, its logged model or its run."""
    source = str(row.source or "")
    candidates = [str(row._mapping.get("storage_location") or "")]
    if source.startswith("models:/") and source[len("models:/") :] in logged:
        candidates.append(str(logged[source[len("models:/") :]].artifact_location))
    elif source.startswith("runs:/"):
        run_id, _, path = source[len("runs:/") :].partition("/")
        if run_id in runs:
            candidates.append(f"{str(runs[run_id].artifact_uri).rstrip('/')}/{path}")
    else:
        candidates.append(source)
    for uri in filter(None, candidates):
        folder = _local(uri)
        if folder is not None and (folder / "MLmodel").is_file():
            return folder
    raise ConfigError(
        f"version {row.version}'s files ({source}; {', '.join(filter(None, candidates))}) are not an MLflow "
        "model on this machine's file system; only local artifact stores can be imported"
    )


def _versions(conn: sa.Connection, tables: dict[str, sa.Table], name: str) -> list[Any]:
    rows = _rows(conn, tables, "model_versions", lambda c: c.name == name)
    if not rows:
        known = sorted({r.name for r in _rows(conn, tables, "model_versions")})
        raise NotFoundError(
            f"MLflow has no registered model '{name}' with versions (models: {', '.join(known) or 'none'})"
        )
    return sorted(rows, key=lambda r: int(r.version))


def _version(
    conn: sa.Connection, tables: dict[str, sa.Table], row: Any, folder: Path, aliases: dict[int, list[str]]
) -> MlflowVersion:
    source = str(row.source or "")
    model_id = source[len("models:/") :] if source.startswith("models:/m-") else None
    tags = {
        t.key: t.value
        for t in _rows(
            conn, tables, "model_version_tags", lambda c: (c.name == row.name) & (c.version == row.version)
        )
    }
    params: dict[str, str] = {}
    metrics: dict[str, float] = {}
    if model_id is not None:
        params = {
            p.param_key: p.param_value
            for p in _rows(conn, tables, "logged_model_params", lambda c: c.model_id == model_id)
        }
        latest = sorted(
            _rows(conn, tables, "logged_model_metrics", lambda c: c.model_id == model_id),
            key=lambda m: (m.metric_step, m.metric_timestamp_ms),
        )
        metrics = {m.metric_name: float(m.metric_value) for m in latest}
    return MlflowVersion(
        version=int(row.version),
        source=source,
        run_id=row.run_id or None,
        stage=row.current_stage if row.current_stage not in (None, "None") else None,
        model_id=model_id,
        folder=folder,
        tags=tags,
        aliases=tuple(sorted(aliases.get(int(row.version), []))),
        params=params,
        metrics=metrics,
    )


def read_registered_model(tracking_uri: str, name: str) -> RegisteredModel:
    """Every version of MLflow's registered model ``name``, with its run, aliases and folder.

    Raises:
        ConfigError: the URI is no SQL database, or a version's files are not on this file system.
        NotFoundError: MLflow has no such registered model.
        StoreUnavailableError: the database cannot be read.
    """
    engine, shown = _engine(tracking_uri), shown_uri(tracking_uri)
    try:
        meta = sa.MetaData()
        present = set(sa.inspect(engine).get_table_names())
        if "model_versions" not in present:
            raise ConfigError(f"'{shown}' holds no MLflow model registry (no model_versions table)")
        meta.reflect(engine, only=[t for t in TABLES if t in present])
        tables = dict(meta.tables)
        with engine.connect() as conn:
            rows = _versions(conn, tables, name)
            aliases: dict[int, list[str]] = defaultdict(list)
            for a in _rows(conn, tables, "registered_model_aliases", lambda c: c.name == name):
                aliases[int(a.version)].append(str(a.alias))
            run_ids = {r.run_id for r in rows if r.run_id}
            runs = {rid: run for rid in run_ids if (run := _run(conn, tables, rid)) is not None}
            run_rows = {r.run_uuid: r for r in _rows(conn, tables, "runs", lambda c: c.run_uuid.in_(run_ids))}
            ids = [
                str(r.source)[len("models:/") :] for r in rows if str(r.source or "").startswith("models:/")
            ]
            logged = {
                m.model_id: m for m in _rows(conn, tables, "logged_models", lambda c: c.model_id.in_(ids))
            }
            versions = [_version(conn, tables, r, _folder(r, run_rows, logged), aliases) for r in rows]
    except sa.exc.OperationalError as exc:
        raise StoreUnavailableError(f"cannot read the MLflow database '{shown}': {exc.orig}") from None
    finally:
        engine.dispose()
    return RegisteredModel(name, versions, runs)
