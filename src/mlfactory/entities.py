"""Typed, immutable records that the stores return."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

PRODUCTION = "production"  # the alias (and route) serving a model's traffic by default
NUMERIC_TYPES = ("number", "integer", "boolean")  # column types held as numbers


class RunStatus(StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"


class VersionStatus(StrEnum):
    """A registered version is `ready` when it passed its gates, `rejected` when it failed one."""

    READY = "ready"
    REJECTED = "rejected"


@dataclass(frozen=True)
class DatasetVersion:
    """An immutable Parquet snapshot of a source, identified by the hash of its content."""

    id: str
    source: str
    version: int
    content_hash: str
    artifact: str  # SHA-256 of the Parquet file in the artifact store
    n_rows: int
    schema: dict[str, Any]
    profile: dict[str, Any]
    validation: dict[str, Any]
    valid: bool
    created_at: datetime

    @property
    def reasons(self) -> list[str]:
        return list(self.validation.get("reasons", []))


@dataclass(frozen=True)
class Metric:
    key: str
    value: float
    step: int = 0
    timestamp: float = 0.0


@dataclass(frozen=True)
class RunClause:
    """One ``field[.key] op value`` clause of a run filter (``metrics.f1 > 0.9``), value as written.

    The value is compared as the run's own value is typed: a number with a number (when it reads as one), a
    true/false with a flag, text with text. A run without the field never matches.
    """

    field: str  # metrics | params | tags | status | name | dataset
    key: str | None
    op: str  # = == != > >= < <=
    value: str


@dataclass(frozen=True)
class Run:
    """One training run and everything it recorded."""

    id: str
    name: str
    status: RunStatus
    started_at: datetime
    ended_at: datetime | None
    params: dict[str, Any]
    tags: dict[str, str]
    environment: dict[str, Any]
    dataset_id: str | None
    error: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)  # latest value per key
    artifacts: dict[str, str] = field(default_factory=dict)  # name -> SHA-256
    archived_at: datetime | None = None  # set by `mlfactory prune`: hidden from listings, kept for lineage
    archive_reason: str | None = None

    @property
    def archived(self) -> bool:
        return self.archived_at is not None

    @property
    def duration_s(self) -> float | None:
        return (self.ended_at - self.started_at).total_seconds() if self.ended_at else None


# -- model version records (signature, lineage, gate results) ------------------------------------------------
# What a version stores about itself, typed. Each record reads and writes the JSON the metadata store holds
# (``from_json`` / ``to_json``), and reads every shape an earlier mlfactory wrote: keys added since default.


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True, kw_only=True)
class ViewSpec:
    """One feature view as a model uses it: its join keys, the features taken (name -> type), how old a value
    may be, the defaults for a missing entity, and the version of the view's code."""

    name: str
    join_keys: tuple[str, ...]
    features: dict[str, str]
    ttl_seconds: float | None
    defaults: dict[str, Any]  # feature -> default value, of the feature's own type
    code_version: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "join_keys": list(self.join_keys),
            "features": dict(self.features),
            "ttl_seconds": self.ttl_seconds,
            "defaults": dict(self.defaults),
            "code_version": self.code_version,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ViewSpec:
        return cls(
            name=d["name"],
            join_keys=tuple(d["join_keys"]),
            features=dict(d["features"]),
            ttl_seconds=d.get("ttl_seconds"),
            defaults=dict(d.get("defaults") or {}),
            code_version=d["code_version"],
        )


@dataclass(frozen=True, kw_only=True)
class ServiceSpec:
    """A feature service as recorded with a model version: what serving needs to look its features up
    without running project code (built from the definitions by :func:`mlfactory.features.service_spec`).

    ``on_missing`` is ``reject`` (an entity with no value in time is refused) or ``defaults``.
    """

    name: str
    views: tuple[ViewSpec, ...]
    on_missing: str = "reject"

    @property
    def join_keys(self) -> list[str]:
        """Every join key any view needs, in first-seen order."""
        return list(dict.fromkeys(k for v in self.views for k in v.join_keys))

    @property
    def features(self) -> dict[str, str]:
        """Feature name -> type, across views."""
        return {n: t for v in self.views for n, t in v.features.items()}

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "on_missing": self.on_missing, "views": [v.to_dict() for v in self.views]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ServiceSpec:
        return cls(
            name=d["name"],
            on_missing=d.get("on_missing", "reject"),
            views=tuple(ViewSpec.from_dict(v) for v in d["views"]),
        )

    @classmethod
    def from_signature(cls, signature: Signature) -> ServiceSpec | None:
        """The spec a model version was trained with, or None when it uses no feature service."""
        return signature.feature_service


@dataclass(frozen=True, kw_only=True)
class InputColumn:
    """One input of a model version, with the rules its source declares (None or True: not declared).

    ``min`` and ``max`` are inclusive bounds of a number, ``categories`` the allowed values (compared as
    text), ``nullable=False`` refuses missing values; ``source`` says where a model with a feature service
    gets the column (``store`` or ``request``; None without a feature service).
    """

    name: str
    type: str
    min: float | None = None
    max: float | None = None
    categories: tuple[str, ...] | None = None
    nullable: bool = True
    source: str | None = None

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> InputColumn:
        cats = d.get("categories")
        return cls(
            name=str(d["name"]),
            type=str(d["type"]),
            min=None if d.get("min") is None else float(d["min"]),
            max=None if d.get("max") is None else float(d["max"]),
            categories=None if cats is None else tuple(str(c) for c in cats),
            nullable=d.get("nullable", True) is not False,
            source=_opt_str(d.get("source")),
        )

    def to_json(self) -> dict[str, Any]:
        """The stored entry: name and type, then only the rules that are declared."""
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        if self.categories is not None:
            out["categories"] = list(self.categories)
        if not self.nullable:
            out["nullable"] = False
        if self.source is not None:
            out["source"] = self.source
        return out


@dataclass(frozen=True, kw_only=True)
class Signature:
    """What a model version takes and predicts: its inputs in feature order, the task, the label and its
    type, a classifier's classes, the types trusted when loading it, and its feature service if it has one.

    ``label_type`` is None for versions registered before it was recorded (readers infer it from the
    classes); ``entity_keys`` are the keys a feature service looks the model's features up by.
    """

    inputs: tuple[InputColumn, ...] = ()
    task: str = "classification"
    label: str = "label"
    label_type: str | None = None
    classes: tuple[Any, ...] | None = None
    trusted_types: tuple[str, ...] = ()
    feature_service: ServiceSpec | None = None
    entity_keys: tuple[str, ...] = ()

    @property
    def input_names(self) -> list[str]:
        return [c.name for c in self.inputs]

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Signature:
        classes = d.get("classes")
        return cls(
            inputs=tuple(InputColumn.from_json(c) for c in d.get("inputs") or ()),
            task=str(d.get("task") or "classification"),
            label=str(d.get("label") or "label"),
            label_type=_opt_str(d.get("label_type")),
            classes=None if classes is None else tuple(classes),
            trusted_types=tuple(d.get("trusted_types") or ()),
            feature_service=ServiceSpec.from_dict(d["feature_service"]) if d.get("feature_service") else None,
            entity_keys=tuple(d.get("entity_keys") or ()),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "inputs": [c.to_json() for c in self.inputs],
            "task": self.task,
            "label": self.label,
            "label_type": self.label_type,
            "classes": None if self.classes is None else list(self.classes),
            "trusted_types": list(self.trusted_types),
        }
        if self.feature_service is not None:
            out["feature_service"] = self.feature_service.to_dict()
            out["entity_keys"] = list(self.entity_keys)
        return out


_LINEAGE_FEATURES = ("training_set", "feature_service", "feature_views", "feature_datasets")


@dataclass(frozen=True, kw_only=True)
class FeatureLineage:
    """Where a model's store features came from: the training set, the service, and per view its code
    version and the dataset version its table was computed from."""

    training_set: str
    feature_service: str
    feature_views: dict[str, str]  # view -> code version
    feature_datasets: dict[str, str]  # view -> dataset version id


@dataclass(frozen=True, kw_only=True)
class Lineage:
    """Where a model version came from: dataset version, run, project file, rows and split, the champion it
    was judged against, labelled traffic it trained on, and its store features.

    Every field may be missing in versions registered by an earlier mlfactory, hence the defaults. Keys this
    mlfactory does not know are kept in ``extra`` so nothing stored is lost.
    """

    dataset: str | None = None
    dataset_hash: str | None = None
    source: str | None = None
    run: str | None = None
    project_file_sha256: str | None = None
    train_rows: int | None = None
    holdout_rows: int | None = None
    split: str | None = None
    estimator: str | None = None
    allow_invalid: bool = False
    champion: str | None = None  # the production version it was judged against (name/version)
    feedback_rows: int = 0
    rows: dict[str, int] = field(default_factory=dict)  # where the rows came from, what was left out
    feedback_requests: str | None = None  # artifact digest of the labelled requests' ids
    max_rows: int | None = None
    features: FeatureLineage | None = None
    # a model class written in the project: its module's file and the SHA-256 of the text it was trained with
    model_module: str | None = None
    model_module_sha256: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Lineage:
        known = {f.name for f in fields(cls)} - {"features", "extra"}
        features = None
        if d.get("training_set"):
            features = FeatureLineage(
                training_set=str(d["training_set"]),
                feature_service=str(d.get("feature_service") or ""),
                feature_views=dict(d.get("feature_views") or {}),
                feature_datasets=dict(d.get("feature_datasets") or {}),
            )
        return cls(
            dataset=_opt_str(d.get("dataset")),
            dataset_hash=_opt_str(d.get("dataset_hash")),
            source=_opt_str(d.get("source")),
            run=_opt_str(d.get("run")),
            project_file_sha256=_opt_str(d.get("project_file_sha256")),
            train_rows=_opt_int(d.get("train_rows")),
            holdout_rows=_opt_int(d.get("holdout_rows")),
            split=_opt_str(d.get("split")),
            estimator=_opt_str(d.get("estimator")),
            allow_invalid=bool(d.get("allow_invalid", False)),
            champion=_opt_str(d.get("champion")),
            feedback_rows=int(d.get("feedback_rows") or 0),
            rows={str(k): int(v) for k, v in (d.get("rows") or {}).items()},
            feedback_requests=_opt_str(d.get("feedback_requests")),
            max_rows=_opt_int(d.get("max_rows")),
            features=features,
            model_module=_opt_str(d.get("model_module")),
            model_module_sha256=_opt_str(d.get("model_module_sha256")),
            extra={k: v for k, v in d.items() if k not in known and k not in _LINEAGE_FEATURES},
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "dataset": self.dataset,
            "dataset_hash": self.dataset_hash,
            "source": self.source,
            "run": self.run,
            "project_file_sha256": self.project_file_sha256,
            "train_rows": self.train_rows,
            "holdout_rows": self.holdout_rows,
            "split": self.split,
            "estimator": self.estimator,
            "allow_invalid": self.allow_invalid,
            "champion": self.champion,
            "feedback_rows": self.feedback_rows,
            "rows": dict(self.rows),
            "feedback_requests": self.feedback_requests,
            "max_rows": self.max_rows,
        }
        if self.features is not None:
            f = self.features
            out |= {
                "training_set": f.training_set,
                "feature_service": f.feature_service,
                "feature_views": dict(f.feature_views),
                "feature_datasets": dict(f.feature_datasets),
            }
        if self.model_module is not None:
            out |= {"model_module": self.model_module, "model_module_sha256": self.model_module_sha256}
        return {**self.extra, **out}


@dataclass(frozen=True, kw_only=True)
class GateResult:
    """One checked rule of a quality gate: the metric, the rule as text (``f1 >= 0.8``), the candidate's value
    (None when undefined), whether it passed, and why, in words (``f1 = 0.8312``)."""

    metric: str
    rule: str = ""
    value: float | None = None
    passed: bool = False
    detail: str = ""

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> GateResult:
        value = d.get("value")
        return cls(
            metric=str(d["metric"]),
            rule=str(d.get("rule", "")),
            value=None if value is None else float(value),
            passed=bool(d.get("passed", False)),
            detail=str(d.get("detail", "")),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "rule": self.rule,
            "value": self.value,
            "passed": self.passed,
            "detail": self.detail,
        }


def gates_from_json(stored: Sequence[Mapping[str, Any]]) -> tuple[GateResult, ...]:
    """A version's stored gate results as records."""
    return tuple(GateResult.from_json(g) for g in stored)


def gates_passed(gates: Sequence[GateResult]) -> bool:
    """Whether every gate passed (true when there are none: an ungated model is ready)."""
    return all(g.passed for g in gates)


# -- end model version records -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelVersion:
    """A packaged model under a name, with everything needed to serve, monitor and trace it."""

    name: str
    version: int
    status: VersionStatus
    run_id: str | None
    artifact: str
    flavor: str
    signature: Signature
    metrics: dict[str, Any]  # the user's metrics on the holdout, and per slice: free-form
    gates: tuple[GateResult, ...]
    profile: dict[str, Any]
    lineage: Lineage
    card: str
    created_at: datetime
    aliases: tuple[str, ...] = ()
    archived_at: datetime | None = None  # set by `mlfactory prune`: hidden from listings, cannot take traffic
    archive_reason: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.name}/{self.version}"

    @property
    def archived(self) -> bool:
        return self.archived_at is not None

    def to_json(self) -> dict[str, Any]:
        """The version as JSON for scripts (``--json``), its signature, gates and lineage as stored."""
        return {
            "name": self.name,
            "version": self.version,
            "status": self.status.value,
            "run_id": self.run_id,
            "artifact": self.artifact,
            "flavor": self.flavor,
            "signature": self.signature.to_json(),
            "metrics": self.metrics,
            "gates": [g.to_json() for g in self.gates],
            "profile": self.profile,
            "lineage": self.lineage.to_json(),
            "card": self.card,
            "created_at": self.created_at.isoformat(),
            "aliases": list(self.aliases),
            "archived_at": self.archived_at.isoformat() if self.archived_at else None,
            "archive_reason": self.archive_reason,
        }


@dataclass(frozen=True)
class Event:
    """One line of the append-only audit log."""

    id: int
    time: datetime
    kind: str
    actor: str
    model: str | None
    payload: dict[str, Any]
    reason: str


@dataclass(frozen=True)
class Rollout:
    """Where the controller is with one model: its rollout state and what it is rolling out.

    ``revision`` grows with every change; a change names the revision it read, so two controllers can never
    both act on the same state. ``data`` is the rollout's stored JSON; the controller reads and writes it
    only as the typed ``mlfactory.control.rollout.RolloutData`` (which also loads the float epochs earlier
    versions wrote).
    """

    model: str
    state: str  # a RolloutState value (mlfactory.control.states)
    revision: int
    challenger: int | None
    champion: int | None
    data: dict[str, Any]  # JSON of RolloutData, converted at the store boundary in mlfactory.control
    paused: bool
    updated_at: datetime
    lease_owner: str | None = None
    lease_until: datetime | None = None


class Role(StrEnum):
    """What an API token may do; each role may do everything the ones before it may.

    ``viewer`` reads models, reports, routes and metrics; ``predictor`` also calls models and sends
    feedback; ``operator`` also deploys, promotes, rolls back and pauses; ``admin`` also manages tokens.
    """

    VIEWER = "viewer"
    PREDICTOR = "predictor"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


@dataclass(frozen=True)
class ApiToken:
    """A named API token (its secret is never stored, only its SHA-256)."""

    name: str
    role: Role
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @staticmethod
    def new_secret() -> str:
        """A fresh secret: 256 random bits, recognisable by its prefix in logs and secret scanners."""
        return "mlf_" + secrets.token_urlsafe(32)

    @staticmethod
    def digest(secret: str) -> str:
        """What is stored of a secret. A plain SHA-256 suffices: the secret is 256 random bits, not a
        password a person chose, so there is nothing to guess."""
        return hashlib.sha256(secret.encode()).hexdigest()


# -- metadata store records (feature views and tables, training sets, skew and monitoring reports, labels) --
# What the store's feature and monitoring families return. The fields are the stored columns; what stays a
# dict is free-form by nature (a view's definition, a training set's spec, a report's JSON payload, the
# flat metric namespace alert rules are written against).


@dataclass(frozen=True)
class FeatureViewRecord:
    """One recorded version of a feature view's definition."""

    name: str
    code_version: str
    entity: str
    source: str
    definition: dict[str, Any]  # the view's own to_dict(): free-form by design
    created_at: datetime


@dataclass(frozen=True)
class FeatureTable:
    """A computed feature table of one view version over one dataset version, kept in the artifact store."""

    view: str
    code_version: str
    dataset_id: str
    digest: str  # SHA-256 of the Parquet file in the artifact store
    n_rows: int
    backfills: bool  # some rows were created after their event time (a backfill)
    created_at: datetime


@dataclass(frozen=True)
class TrainingSetRecord:
    """A training set built by a point-in-time join, identified by the hash of its inputs."""

    id: str
    digest: str
    n_rows: int
    spec: dict[str, Any]  # what it was built from: free-form by design
    created_at: datetime


@dataclass(frozen=True)
class SkewReportRecord:
    """A stored training/serving skew report of a model."""

    id: int
    model: str
    created_at: datetime
    report: dict[str, Any]  # the report's JSON payload


@dataclass(frozen=True)
class MonitorReportRecord:
    """A stored monitoring report: its summary always, its full payload when asked for."""

    id: str
    model: str
    version: int | None
    route: str | None
    created_at: datetime
    window_start: datetime | None
    window_end: datetime | None
    rows: int
    status: str
    metrics: dict[str, float | None]  # flat dotted names alert rules read ("drift.share", ...)
    report: dict[str, Any] | None = None  # the full JSON payload; None in summaries


@dataclass(frozen=True)
class FeedbackRecord:
    """A true label stored for one served request."""

    request_id: str
    label: Any  # in the model's label type: a class, a number
    model: str | None
    received_at: datetime
    actor: str  # who sent it
    problem: str | None = None  # why it does not fit the model; such labels are kept aside


@dataclass(frozen=True)
class AuditRecord:
    """A stored audit: when, by whom, over which models, its score, and the whole report when asked for."""

    id: str
    created_at: datetime
    actor: str
    models: tuple[str, ...]  # the audit's scope, sorted
    score: float  # the ML Test Score: the lowest section's total
    report: dict[str, Any] | None = None  # mlfactory.audit's report as JSON; None in summaries


# -- end metadata store records ------------------------------------------------------------------------
