"""An MLflow registered model brought into mlfactory's registry: versions, runs, aliases and provenance.

Each MLflow version, in MLflow's order, becomes the next mlfactory version of the model of the same name,
with a run holding its MLflow run's params, tags and every metric value; its aliases follow (``champion``
and ``production`` become ``production``, as does the MLflow 2 stage ``Production``; ``Staging`` becomes
``staging``; other aliases keep their name). Where it came from (tracking URI without its password, MLflow
model, version, run, source URI, logged model) is kept in the version's lineage under ``mlflow``, so a
second import of the same model takes only the versions added since.

mlfactory never keeps a pickle: a model MLflow saved with skops is loaded against scikit-learn's, NumPy's
and SciPy's types (and the model's ``trusted_types``); a pickled one (MLflow's default before 3.17, and
``serialization_format="cloudpickle"`` since) is unpickled only when the caller trusts the store, because
loading a pickle runs whatever code it holds. Either way the model is then saved through mlfactory's own
save path (skops, or a booster's own format) and loaded from that ever after.
"""

from __future__ import annotations

import json
import math
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from mlfactory.entities import (
    PRODUCTION,
    InputColumn,
    Lineage,
    Metric,
    ModelVersion,
    RunStatus,
    Signature,
    VersionStatus,
)
from mlfactory.errors import ConfigError, NotFoundError
from mlfactory.registry.mlflow_store import MlflowRun, MlflowVersion, RegisteredModel
from mlfactory.registry.packaging import FLAVOR, TRUSTED_PREFIXES, save_model
from mlfactory.registry.registry import Registry

ALIASES = {"champion": PRODUCTION, "production": PRODUCTION}
STAGES = {"Production": PRODUCTION, "Staging": "staging"}
COLUMN_TYPES = {  # MLflow column type -> mlfactory input type
    "double": "number",
    "float": "number",
    "long": "integer",
    "integer": "integer",
    "boolean": "boolean",
    "string": "category",
    "datetime": "datetime",
}


@dataclass(frozen=True)
class ImportedVersion:
    """One MLflow version as registered in mlfactory."""

    mlflow_version: int
    version: str  # NAME/VERSION in mlfactory
    run_id: str | None  # the mlfactory run holding its MLflow run's record
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class ImportReport:
    """What an import registered, and which MLflow versions an earlier import had already brought."""

    model: str
    tracking_uri: str
    imported: list[ImportedVersion]
    skipped: list[int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "tracking_uri": self.tracking_uri,
            "imported": [
                {
                    "mlflow_version": v.mlflow_version,
                    "version": v.version,
                    "run": v.run_id,
                    "aliases": list(v.aliases),
                }
                for v in self.imported
            ],
            "skipped": self.skipped,
        }


@dataclass(frozen=True)
class Importer:
    """Where the versions go, who records them, and what the caller allows."""

    registry: Registry
    tracking_uri: str  # as recorded: without a password
    trust: bool
    extra_trusted: list[str]  # the model's trusted_types in the project file
    label: str  # the model's label in the project file, else "label"
    actor: str


def _serialization(mlmodel: dict[str, Any]) -> str:
    """How MLflow saved the scikit-learn model (``cloudpickle`` when its MLmodel does not say)."""
    flavor = (mlmodel.get("flavors") or {}).get("sklearn") or {}
    return str(flavor.get("serialization_format") or "cloudpickle")


def refuse_pickles(name: str, mlmodels: dict[int, dict[str, Any]], trust: bool) -> None:
    """Without ``trust``, refuse the whole import, before anything is registered, when a version is
    pickled: unpickling runs whatever code the file holds."""
    pickled = {v: _serialization(m) for v, m in mlmodels.items() if _serialization(m) != "skops"}
    if pickled and not trust:
        listed = ", ".join(f"{v} ({fmt})" for v, fmt in pickled.items())
        raise ConfigError(
            f"MLflow model '{name}' has pickled scikit-learn versions: {listed}; unpickling runs whatever "
            "code the file holds, so mlfactory loads them only when you trust the MLflow store they come "
            "from: pass --trust. They are then re-saved with skops and never unpickled again"
        )


def _pickled(path: Path, label: str, trust: bool) -> Any:
    if not trust:  # refuse_pickles() turns the whole import down before this; the same lock, nearer the door
        raise ConfigError(f"{label} is pickled; pass --trust to unpickle it")
    with path.open("rb") as f:
        return pickle.load(f)  # the caller vouched for this store (--trust); the model is re-saved with skops


def _skops(path: Path, label: str, importer: Importer) -> Any:
    import skops.io as sio

    data = path.read_bytes()
    needed = sio.get_untrusted_types(data=data)
    refused = [t for t in needed if not t.startswith(TRUSTED_PREFIXES) and t not in importer.extra_trusted]
    if refused and not importer.trust:
        raise ConfigError(
            f"{label} uses types outside scikit-learn, NumPy and SciPy: {refused}; list them under the "
            "model's trusted_types in mlfactory.yaml, or pass --trust"
        )
    return sio.loads(data, trusted=needed)


def load_estimator(mlmodel: dict[str, Any], folder: Path, label: str, importer: Importer) -> Any:
    """The scikit-learn model of an MLflow model folder (pickled only with ``trust``)."""
    flavors = mlmodel.get("flavors") or {}
    flavor = flavors.get("sklearn")
    if not isinstance(flavor, dict) or not flavor.get("pickled_model"):
        raise ConfigError(
            f"{label} has no scikit-learn flavor (it has: {', '.join(sorted(flavors)) or 'none'}); only "
            "scikit-learn models are imported"
        )
    path = folder / str(flavor["pickled_model"])
    if _serialization(mlmodel) == "skops":
        return _skops(path, label, importer)
    return _pickled(path, label, importer.trust)


def _inputs(mlmodel: dict[str, Any], estimator: Any, label: str) -> tuple[InputColumn, ...]:
    """The inputs from the MLflow signature's named columns, else from the model's ``feature_names_in_``."""
    raw = (mlmodel.get("signature") or {}).get("inputs")
    specs = json.loads(raw) if isinstance(raw, str) else None
    if specs and all(isinstance(s, dict) and s.get("name") for s in specs):
        unknown = sorted({s["type"] for s in specs if s.get("type") not in COLUMN_TYPES})
        if unknown:
            raise ConfigError(f"{label}'s signature has column types mlfactory does not take: {unknown}")
        return tuple(InputColumn(name=str(s["name"]), type=COLUMN_TYPES[s["type"]]) for s in specs)
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        raise ConfigError(
            f"{label} has no signature with named columns and its model no feature_names_in_; log it with a "
            "signature (or fit it on a DataFrame) and import again"
        )
    return tuple(InputColumn(name=str(n), type="number") for n in names)


def _signature(
    mlmodel: dict[str, Any], estimator: Any, label: str, importer: Importer, trusted: list[str]
) -> Signature:
    from sklearn.base import is_classifier

    classes = getattr(estimator, "classes_", None) if is_classifier(estimator) else None
    return Signature(
        inputs=_inputs(mlmodel, estimator, label),
        task="classification" if classes is not None else "regression",
        label=importer.label,
        label_type="category" if classes is not None else "number",
        classes=None
        if classes is None
        else tuple(c.item() if isinstance(c, np.generic) else c for c in classes),
        trusted_types=tuple(trusted),
    )


def _run(importer: Importer, name: str, run: MlflowRun, digest: str) -> str:
    """An mlfactory run holding what the MLflow run logged."""
    metadata = importer.registry.metadata
    run_id = metadata.create_run(
        name,
        params=dict(run.params),
        tags={**run.tags, "imported_from": "mlflow", "mlflow_run_id": run.id},
        environment={
            "imported_from": "mlflow",
            "mlflow_run_name": run.name,
            "mlflow_start_time_ms": run.start_ms,
            "mlflow_end_time_ms": run.end_ms,
        },
    )
    metadata.log_metrics(
        run_id,
        [
            Metric(m.key, m.value, m.step, m.timestamp_ms / 1000)
            for m in run.metrics
            if math.isfinite(m.value)
        ],
    )
    metadata.log_artifact(run_id, "model", digest)
    failed = run.status in ("FAILED", "KILLED")
    metadata.end_run(
        run_id, RunStatus.FAILED if failed else RunStatus.FINISHED, "failed in MLflow" if failed else None
    )
    return run_id


def _provenance(importer: Importer, model: str, v: MlflowVersion, fmt: str) -> dict[str, Any]:
    return {
        "tracking_uri": importer.tracking_uri,
        "model": model,
        "version": v.version,
        "run_id": v.run_id,
        "source": v.source,
        "model_id": v.model_id,
        "stage": v.stage,
        "aliases": list(v.aliases),
        "serialization_format": fmt,
    }


def _card(name: str, provenance: dict[str, Any]) -> str:
    return (
        f"# {name} v{{version}}\n\nImported from MLflow: model `{provenance['model']}` version "
        f"{provenance['version']} ({provenance['source']}), tracking URI `{provenance['tracking_uri']}`, "
        f"run `{provenance['run_id']}`. Re-saved by mlfactory with {FLAVOR}.\n"
    )


def import_version(
    importer: Importer, registered: RegisteredModel, v: MlflowVersion, mlmodel: dict[str, Any]
) -> ModelVersion:
    """Register one MLflow version (its MLmodel read) as the next mlfactory version of the model."""
    name = registered.name
    label = f"MLflow model '{name}' version {v.version}"
    estimator = load_estimator(mlmodel, v.folder, label, importer)
    digest, trusted = save_model(estimator, importer.registry.artifacts, importer.extra_trusted)
    signature = _signature(mlmodel, estimator, label, importer, trusted)
    run = registered.runs.get(v.run_id or "")
    run_id = None if run is None else _run(importer, name, run, digest)
    provenance = _provenance(importer, name, v, _serialization(mlmodel))
    metrics = {**v.metrics, **(run.latest() if run else {})}  # the run's final values win
    return importer.registry.metadata.create_model_version(
        name,
        status=VersionStatus.READY,
        run_id=run_id,
        artifact=digest,
        flavor=FLAVOR,
        signature=signature.to_json(),
        metrics={k: x for k, x in metrics.items() if math.isfinite(x)},
        gates=[],
        profile={},
        lineage=Lineage(
            run=run_id, estimator=type(estimator).__name__, extra={"mlflow": provenance}
        ).to_json(),
        card=_card(name, provenance),
        actor=importer.actor,
    )


def _imported_before(registry: Registry, name: str, tracking_uri: str) -> dict[int, ModelVersion]:
    """The versions an earlier import of this MLflow model registered, by MLflow version."""
    try:
        versions = registry.metadata.list_model_versions(name)
    except NotFoundError:
        return {}
    out = {}
    for mv in versions:
        p = mv.lineage.extra.get("mlflow")
        if isinstance(p, dict) and p.get("tracking_uri") == tracking_uri and p.get("model") == name:
            out[int(p["version"])] = mv
    return out


def _alias(mlflow_alias: str) -> str:
    """An MLflow alias as mlfactory spells aliases (lowercase, starting with a letter)."""
    alias = ALIASES.get(mlflow_alias.lower(), mlflow_alias.lower())
    return alias if alias[:1].isalpha() else f"mlflow-{alias}"


def _aliases(v: MlflowVersion) -> list[str]:
    """The mlfactory aliases of an MLflow version: its stage's first, then its aliases' (which win)."""
    out = [STAGES[v.stage]] if v.stage in STAGES else []
    return [*out, *(_alias(a) for a in v.aliases)]


def import_registered_model(importer: Importer, registered: RegisteredModel) -> ImportReport:
    """Register every MLflow version not imported before, in MLflow's order, then set the aliases.

    Raises:
        ConfigError: a pickled model without ``trust``, a model that is no scikit-learn model, or one
            without named inputs.
        TrainingError: the model cannot be saved with skops (a type outside the trusted ones).
    """
    before = _imported_before(importer.registry, registered.name, importer.tracking_uri)
    new = [v for v in registered.versions if v.version not in before]
    mlmodels = {v.version: yaml.safe_load((v.folder / "MLmodel").read_text()) for v in new}
    refuse_pickles(registered.name, mlmodels, importer.trust)
    done = [(v, import_version(importer, registered, v, mlmodels[v.version])) for v in new]
    moved: dict[int, list[str]] = {}
    for v, mv in done:
        for alias in _aliases(v):
            importer.registry.promote(
                registered.name,
                mv.version,
                alias=alias,
                actor=importer.actor,
                reason=f"imported from MLflow {registered.name} version {v.version}",
            )
            moved.setdefault(mv.version, []).append(alias)
    imported = [
        ImportedVersion(v.version, mv.ref, mv.run_id, tuple(dict.fromkeys(moved.get(mv.version, []))))
        for v, mv in done
    ]
    return ImportReport(registered.name, importer.tracking_uri, imported, sorted(before))
