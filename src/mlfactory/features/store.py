"""The feature store of one project: definitions, feature tables, online store, training sets, skew.

It is built from the project's configuration and stores (no global state) and is what ``Project.features``
returns; the CLI and the train flow call into it.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlfactory.config import LoadedConfig
from mlfactory.entities import DatasetVersion, FeatureLineage, Signature
from mlfactory.errors import NotFoundError, ValidationError
from mlfactory.features.definitions import FeatureView
from mlfactory.features.materialize import MaterializeResult, from_us, materialize_view
from mlfactory.features.offline import ViewTable, point_in_time_join
from mlfactory.features.online.base import OnlineRecord, OnlineStore, entity_key, open_online_store
from mlfactory.features.partitioned import ModuleRef, SourceRef, compute_table
from mlfactory.features.repo import FeatureRepo, load_feature_repo
from mlfactory.features.skew import compare
from mlfactory.features.spec import ServiceSpec, service_spec
from mlfactory.stores.artifacts import ArtifactStore
from mlfactory.stores.metadata import MetadataStore
from mlfactory.stores.predictions import INPUT_PREFIX, PredictionReader, open_prediction_reader

if TYPE_CHECKING:
    from mlfactory.compute import Executor

NUMERIC_KINDS = ("number", "integer", "boolean")


@dataclass(frozen=True)
class TrainingSet:
    """A point-in-time training set: the frame, its id and artifact, and what it was built from."""

    id: str
    digest: str
    frame: pd.DataFrame
    spec: ServiceSpec
    lineage: FeatureLineage


def with_defaults(frame: pd.DataFrame, spec: ServiceSpec) -> pd.DataFrame:
    """Under the ``defaults`` policy, rows whose entity had no value in time get the declared defaults:
    exactly what the server fills in for a missing or stale entity, so training and serving agree."""
    if spec.on_missing != "defaults":
        return frame
    fills = {n: d for v in spec.views for n, d in v.defaults.items() if n in frame.columns}
    return frame.fillna(fills) if fills else frame


class FeatureStore:
    """Feature definitions and data of one project."""

    def __init__(
        self,
        loaded: LoadedConfig,
        metadata: MetadataStore,
        artifacts: ArtifactStore,
        online: OnlineStore | None = None,
        *,
        compute: Executor | None = None,
    ) -> None:
        """
        Args:
            loaded: the project's settings.
            metadata: the metadata store.
            artifacts: the artifact store (sources' snapshots, feature tables, training sets).
            online: the online store (opened from the settings on first use when None).
            compute: the executor whose workers compute a per-entity view over a large source, split by
                entity (:mod:`mlfactory.features.partitioned`) from the project's ``features.split`` on;
                None computes every view here.
        """
        self.loaded = loaded
        self.metadata = metadata
        self.artifacts = artifacts
        self._online = online
        self.compute = compute
        self._repo: FeatureRepo | None = None

    @property
    def repo(self) -> FeatureRepo:
        if self._repo is None:
            self._repo = load_feature_repo(self.loaded)
        return self._repo

    @property
    def online(self) -> OnlineStore:
        if self._online is None:
            self._online = open_online_store(self.loaded.online_url(), namespace=self.loaded.config.name)
        return self._online

    def close(self) -> None:
        if self._online is not None:
            self._online.close()
            self._online = None

    # -- definitions ------------------------------------------------------------------------------------

    def register(self) -> list[str]:
        """Record every view's current code version; returns the views whose version is new."""
        return [
            v.name
            for v in self.repo.views.values()
            if self.metadata.register_feature_view(
                v.name, v.code_version, entity=v.entity.name, source=v.source, definition=v.to_dict()
            )
        ]

    def describe(self, name: str) -> dict[str, Any]:
        """A view's definition, its recorded versions and its online state."""
        view = self.repo.view(name)
        mark = self.online.watermark(name)
        return {
            **view.to_dict(),
            "versions": [asdict(v) for v in self.metadata.list_feature_views(name)],
            "online": {
                "entities": self.online.count(name),
                "watermark": from_us(mark.us) if mark else None,
                "code_version": mark.code_version if mark else None,
            },
        }

    # -- feature tables -----------------------------------------------------------------------------------

    def _dataset(self, source: str) -> DatasetVersion:
        versions = [d for d in self.metadata.list_datasets(source) if d.valid]
        if not versions:
            raise NotFoundError(
                f"source '{source}' has no valid dataset version; run `mlfactory ingest {source}`"
            )
        return versions[-1]

    def table(
        self, view: FeatureView, dataset: DatasetVersion | None = None
    ) -> tuple[ViewTable, DatasetVersion]:
        """The view's feature table over a dataset version of its source (the newest valid one by default),
        computed once and cached in the artifact store."""
        ds = dataset or self._dataset(view.source)
        cached = self.metadata.get_feature_table(view.name, view.code_version, ds.id)
        if cached is None:
            frame = self._compute(view, ds)
            backfills = bool((frame["_created_ts"] != frame["_event_ts"]).any())
            fd, tmp = tempfile.mkstemp(suffix=".parquet")
            os.close(fd)
            try:
                frame.to_parquet(tmp, index=False)
                digest = self.artifacts.put_file(Path(tmp))
            finally:
                os.unlink(tmp)
            self.metadata.register_feature_view(
                view.name,
                view.code_version,
                entity=view.entity.name,
                source=view.source,
                definition=view.to_dict(),
            )
            self.metadata.add_feature_table(
                view.name, view.code_version, ds.id, digest=digest, n_rows=len(frame), backfills=backfills
            )
        else:
            digest, backfills = cached.digest, cached.backfills
        return ViewTable(
            name=view.name,
            path=self.artifacts.local_path(digest),
            join_keys=view.join_keys,
            features=tuple(view.features),
            ttl_seconds=view.ttl_seconds,
            backfills=backfills,
            digest=digest,
        ), ds

    def _compute(self, view: FeatureView, ds: DatasetVersion) -> pd.DataFrame:
        """The view's table over a dataset version, here or split across the executor; how it was computed
        is recorded as a ``features.computed`` event."""
        settings = self.loaded.config.stores
        source = SourceRef(ds.artifact, settings.artifacts, self.loaded.root, dict(settings.storage_options))
        module = self.loaded.config.features.module
        ref = ModuleRef.of(self.loaded.path(module)) if module else None
        path = self.artifacts.local_path(ds.artifact)
        computed = compute_table(view, path, (source, ref), self.compute, self.loaded.config.features.split)
        self.metadata.add_event(
            "features.computed",
            actor="features",
            payload={
                "view": view.name,
                "code_version": view.code_version,
                "dataset": ds.id,
                "rows": len(computed.frame),
                "partitions": computed.partitions,
                "note": computed.note,
            },
        )
        return computed.frame

    # -- online ---------------------------------------------------------------------------------------------

    def materialize(
        self,
        views: list[str] | None = None,
        *,
        since: datetime | None = None,
        now: datetime | None = None,
        actor: str = "features",
    ) -> list[MaterializeResult]:
        """Write the newest values per entity of some (default: all) views into the online store."""
        results = []
        for name in views or sorted(self.repo.views):
            view = self.repo.view(name)
            table, ds = self.table(view)
            result = materialize_view(
                table,
                view.code_version,
                self.online,
                since=since,
                now=now,
                memory_limit=self.loaded.config.features.memory_limit,
            )
            self.metadata.add_event(
                "features.materialized",
                actor=actor,
                payload={
                    "view": name,
                    "code_version": view.code_version,
                    "dataset": ds.id,
                    "rows_read": result.rows_read,
                    "entities_written": result.entities_written,
                    "full": result.full,
                    "watermark": result.watermark.isoformat() if result.watermark else None,
                },
            )
            results.append(result)
        return results

    def get_online(self, view: str, keys: dict[str, Any]) -> OnlineRecord | None:
        """One entity's online values; ``keys`` maps each join key to its value."""
        v = self.repo.view(view)
        missing = [k for k in v.join_keys if k not in keys]
        if missing:
            raise ValidationError(f"view '{view}' is keyed by {list(v.join_keys)}; give --key for {missing}")
        return self.online.read(view, [entity_key([keys[k] for k in v.join_keys])])[0]

    # -- offline --------------------------------------------------------------------------------------------

    def training_set(
        self, service: str, labels: pd.DataFrame, event_time: str, *, on_missing: str = "reject"
    ) -> TrainingSet:
        """Join a service's features onto label rows point-in-time, store the result and record it."""
        svc = self.repo.service(service)
        spec = service_spec(svc, on_missing)
        tables, sources = [], {}
        for sel in svc.selections():
            table, ds = self.table(sel.view)
            tables.append(
                ViewTable(
                    name=table.name,
                    path=table.path,
                    join_keys=table.join_keys,
                    features=sel.names,
                    ttl_seconds=table.ttl_seconds,
                    backfills=table.backfills,
                )
            )
            sources[sel.view.name] = {
                "code_version": sel.view.code_version,
                "dataset": ds.id,
                "table": table.digest,
            }
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "training_set.parquet"
            n = point_in_time_join(
                labels,
                event_time,
                tables,
                out,
                memory_limit=self.loaded.config.features.memory_limit,
                workdir=Path(tmp),
            )
            digest = self.artifacts.put_file(out)
        frame = pd.read_parquet(self.artifacts.local_path(digest))
        for name, kind in spec.features.items():
            if kind in NUMERIC_KINDS:
                frame[name] = pd.to_numeric(frame[name].astype("Float64"), errors="coerce").astype("float64")
        frame = with_defaults(frame, spec)
        ts_id = f"ts-{digest[:16]}"
        self.metadata.add_training_set(
            ts_id,
            digest=digest,
            n_rows=n,
            spec={"service": spec.to_dict(), "views": sources, "event_time": event_time},
        )
        lineage = FeatureLineage(
            training_set=ts_id,
            feature_service=svc.name,
            feature_views={k: v["code_version"] for k, v in sources.items()},
            feature_datasets={k: v["dataset"] for k, v in sources.items()},
        )
        return TrainingSet(ts_id, digest, frame, spec, lineage)

    def _view_tables(self, spec: ServiceSpec) -> list[ViewTable]:
        """The offline feature table of every view a recorded service spec names, ready to join."""
        tables = []
        for v in spec.views:
            table, _ = self.table(self.repo.view(v.name))
            tables.append(
                ViewTable(
                    name=v.name,
                    path=table.path,
                    join_keys=v.join_keys,
                    features=tuple(v.features),
                    ttl_seconds=v.ttl_seconds,
                    backfills=table.backfills,
                )
            )
        return tables

    def features_for(
        self, spec: ServiceSpec, rows: pd.DataFrame, event_time: str | None = None
    ) -> pd.DataFrame:
        """A service's features for ``rows`` (which carry its join keys), joined point-in-time at each row's
        ``event_time`` column (now when None) from the offline tables, exactly as training joins them: what
        batch scoring feeds a model that looks its features up when served. Row order and index are kept.
        """
        at = pd.to_datetime(rows[event_time], utc=True) if event_time else pd.Timestamp.now(tz="UTC")
        missing = [k for k in spec.join_keys if k not in rows.columns]
        if missing:
            raise ValidationError(
                f"the rows lack the entity key(s) {missing} that feature service '{spec.name}' is looked "
                "up by; add them to the input"
            )
        keys = pd.DataFrame({k: rows[k].to_numpy() for k in spec.join_keys}).assign(_at=np.asarray(at))
        tables = self._view_tables(spec)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "features.parquet"
            limit = self.loaded.config.features.memory_limit
            point_in_time_join(keys, "_at", tables, out, memory_limit=limit, workdir=Path(tmp))
            joined = pd.read_parquet(out, columns=list(spec.features))
        for name, kind in spec.features.items():
            if kind in NUMERIC_KINDS:
                numbers = pd.to_numeric(joined[name].astype("Float64"), errors="coerce")
                joined[name] = numbers.astype("float64")
        return with_defaults(joined, spec).set_axis(rows.index)

    # -- skew ------------------------------------------------------------------------------------------

    def skew(
        self,
        model: str,
        *,
        since: datetime | None = None,
        limit: int = 100_000,
        actor: str = "features",
        log_root: Path | None = None,
    ) -> dict[str, Any]:
        """Compare the vectors a model's versions were served with (from the prediction log) against an
        offline point-in-time recomputation for the same entities and times; store the report.

        Args:
            model: the model name.
            since: only predictions from this time on.
            limit: at most this many (newest) predictions.
            actor: who asked, for the event log.
            log_root: the prediction log's folder (default: the project's ``server.prediction_log.path``).

        Returns:
            The report: rows compared, per-version and per-feature mismatch rates and largest differences.
        """
        versions = self.metadata.list_model_versions(model, include_archived=True)  # the log may name any
        signatures = {v.version: v.signature for v in versions}
        log = PredictionReader(log_root) if log_root is not None else open_prediction_reader(self.loaded)
        if not log.files(model):
            raise NotFoundError(f"the prediction log in {log.root} has nothing for model '{model}' yet")
        served = log.query(model=model, since=since, limit=limit, newest_first=True)
        report: dict[str, Any] = {
            "model": model,
            "rows": 0,
            "versions": {},
            "features": {},
            "max_mismatch_rate": 0.0,
        }
        for version, part in served.groupby("version"):
            spec = ServiceSpec.from_signature(signatures.get(int(version), Signature()))
            if spec is None:
                continue
            part = part.reset_index(drop=True)
            prefixed = {c: c.removeprefix(INPUT_PREFIX) for c in part.columns if c.startswith(INPUT_PREFIX)}
            part = part.rename(columns=prefixed)
            labels = part[[*spec.join_keys, "time", "request_id"]]
            tables = self._view_tables(spec)
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "offline.parquet"
                point_in_time_join(labels, "time", tables, out, workdir=Path(tmp))
                offline = pd.read_parquet(out)
            one = compare(part, offline, spec.features)
            report["versions"][str(version)] = one
            report["rows"] += one["rows"]
            for name, stats in one["features"].items():
                report["features"][f"v{version}.{name}"] = stats
            report["max_mismatch_rate"] = max(report["max_mismatch_rate"], one["max_mismatch_rate"])
        if not report["versions"]:
            raise NotFoundError(f"no logged version of model '{model}' uses a feature service")
        report["id"] = self.metadata.add_skew_report(model, report, actor=actor)
        return report
