"""The project file (`mlfactory.yaml`) as pydantic models: the one place every setting and its default lives.

Configuration is built once at the edge (CLI, server factory) by :func:`load_project_config` and passed down.
Environment variables ``MLFACTORY_<SECTION>__<KEY>`` override the file, e.g.
``MLFACTORY_STORES__METADATA=postgresql+psycopg://postgres@127.0.0.1:5432/test``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from mlfactory.errors import ConfigError

PROJECT_FILE = "mlfactory.yaml"
ENV_PREFIX = "MLFACTORY_"

ColumnType = Literal["number", "integer", "boolean", "category", "text", "datetime"]
CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
REGRESSION_METRICS = ("mae", "rmse", "r2")
LOWER_IS_BETTER = frozenset({"log_loss", "mae", "rmse"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnSpec(_Strict):
    """A declared column: its type and the checks ingestion applies."""

    type: ColumnType
    nullable: bool = True
    max_null_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = None


class SourceConfig(_Strict):
    """A named, documented input: a file, a folder of files, or a SQL query."""

    kind: Literal["csv", "parquet", "folder", "sql"]
    path: str | None = None
    query: str | None = None
    url: str | None = None
    owner: str = "unknown"
    description: str = ""
    columns: dict[str, ColumnSpec] | None = Field(
        default=None, description="declared schema; inferred from the first valid snapshot when omitted"
    )
    max_null_rate: float = Field(default=0.5, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _kind_needs(self) -> SourceConfig:
        if self.kind == "sql":
            if not self.query or not self.url:
                raise ValueError("a source of kind 'sql' needs both 'query' and 'url'")
        elif not self.path:
            raise ValueError(f"a source of kind '{self.kind}' needs 'path'")
        return self


class FeaturesConfig(_Strict):
    """The model's input columns by type; they become a scikit-learn ColumnTransformer."""

    numeric: list[str] = []
    categorical: list[str] = []
    text: list[str] = []

    def all(self) -> list[str]:
        return [*self.numeric, *self.categorical, *self.text]

    @model_validator(mode="after")
    def _not_empty_no_dupes(self) -> FeaturesConfig:
        cols = self.all()
        if not cols:
            raise ValueError("declare at least one column under numeric, categorical or text")
        dupes = sorted({c for c in cols if cols.count(c) > 1})
        if dupes:
            raise ValueError(f"columns listed twice: {dupes}; list each column under one type")
        return self


class SplitConfig(_Strict):
    strategy: Literal["random", "time"] = "random"
    test_size: float = Field(default=0.2, gt=0.0, lt=1.0)


class GateConfig(_Strict):
    """A quality gate: absolute (`min`/`max`) or relative to production (`max_drop`)."""

    metric: str
    min: float | None = None
    max: float | None = None
    max_drop: float | None = Field(
        default=None,
        ge=0.0,
        description="largest allowed drop against the production version on the same holdout",
    )

    @model_validator(mode="after")
    def _one_bound(self) -> GateConfig:
        if self.min is None and self.max is None and self.max_drop is None:
            raise ValueError(f"gate on '{self.metric}' needs one of min, max or max_drop")
        return self


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | float) -> float:
    """Seconds in a duration like ``90s``, ``15m``, ``1h``, ``30d`` or ``2w`` (a bare number is seconds)."""
    if isinstance(text, int | float):
        return float(text)
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"'{text}' is not a duration; write a number and a unit: 90s, 15m, 1h, 30d or 2w")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


Duration = Annotated[float, BeforeValidator(parse_duration)]


class TriggersConfig(_Strict):
    """What makes the controller retrain a model; any one firing is enough."""

    drift_windows: int | None = Field(
        default=None, ge=1, description="dataset drift in this many consecutive monitoring windows"
    )
    performance_metric: str | None = Field(default=None, description="realized, or estimated before labels")
    performance_below: float | None = None
    schedule: Duration | None = Field(default=None, description="retrain at least this often, e.g. 7d")
    new_data: bool = Field(default=False, description="a new valid dataset version of the model's source")

    @model_validator(mode="after")
    def _pairs(self) -> TriggersConfig:
        if (self.performance_metric is None) != (self.performance_below is None):
            raise ValueError("performance_metric and performance_below go together")
        return self


class CompareConfig(_Strict):
    """A live metric compared between challenger and champion during a canary."""

    metric: Literal["accuracy", "error_rate", "latency_p95_ms", "prediction_shift"]
    max_regression: float = Field(ge=0.0, description="allowed worsening, in the metric's own unit")


class RolloutConfig(_Strict):
    """How a challenger goes live: optional shadow, then a canary, then promotion or rollback."""

    shadow: bool = False
    shadow_min_rows: int = Field(default=200, ge=1)
    canary_weight: float = Field(default=20.0, gt=0.0, le=50.0)
    canary_key: str | None = Field(default=None, description="request field keeping each caller on one side")
    min_canary_rows: int = Field(default=200, ge=10)
    min_canary_duration: Duration = 0.0
    max_canary_duration: Duration = Field(
        default=86400.0, description="undecided canaries roll back after this"
    )
    compare: list[CompareConfig] = [
        CompareConfig(metric="error_rate", max_regression=0.01),
        CompareConfig(metric="accuracy", max_regression=0.02),
        CompareConfig(metric="latency_p95_ms", max_regression=50.0),
    ]
    significance: float = Field(default=0.05, gt=0.0, lt=0.5)
    guard_rows: int = Field(default=200, ge=0, description="labelled production rows watched after promotion")
    guard_duration: Duration = Field(default=3600.0, description="how long the guard window stays open")


class PolicyConfig(_Strict):
    """The controller's policy for one model."""

    triggers: TriggersConfig = TriggersConfig()
    window_rows: int = Field(default=1000, ge=50, description="prediction-log rows per monitoring window")
    cooldown: Duration = Field(default=3600.0, description="no new retrain this soon after the last one")
    max_retrains_per_day: int = Field(default=4, ge=1)
    include_feedback: bool = Field(default=True, description="train on labelled production traffic too")
    max_training_rows: int | None = Field(
        default=None,
        ge=100,
        description="retrain on only the newest N labelled rows (source and feedback "
        "together, by the model's timestamp), so a changed world outweighs the old one",
    )
    rollout: RolloutConfig = RolloutConfig()


class ControllerConfig(_Strict):
    interval: Duration = Field(default=60.0, gt=0.0, description="seconds between passes of `controller run`")
    lease: Duration = Field(default=300.0, gt=0.0, description="how long a controller owns a model's rollout")


class ModelConfig(_Strict):
    """One model the project trains: data, columns, estimator, split, metrics and gates."""

    source: str
    label: str
    task: Literal["classification", "regression"] = "classification"
    timestamp: str | None = None
    features: FeaturesConfig
    estimator: str = "sklearn.linear_model.LogisticRegression"
    params: dict[str, Any] = {}
    preprocess: bool = Field(
        default=True,
        description="wrap the estimator in a pipeline that scales numbers, one-hot encodes categories "
        "and TF-IDF vectorizes text; set false when the estimator handles raw columns itself",
    )
    split: SplitConfig = SplitConfig()
    metrics: list[str] | None = None
    gates: list[GateConfig] = []
    segments: list[str] = []
    seed: int = 42
    trusted_types: list[str] = Field(
        default=[], description="extra types skops may load for this model, beyond scikit-learn's own"
    )
    policy: PolicyConfig | None = Field(
        default=None, description="set to let the controller manage the model"
    )
    # -- features (issue 4) --
    feature_service: str | None = Field(
        default=None,
        description="feature service (from features.module) whose features the model also uses; "
        "training joins them point-in-time at the 'timestamp' column, serving looks them up online",
    )
    on_missing_features: Literal["reject", "defaults"] = Field(
        default="reject",
        description="a row whose entity is not found or is stale in the online store: "
        "'reject' answers 4xx naming the row, 'defaults' uses the view's declared defaults",
    )

    @model_validator(mode="after")
    def _metrics_known(self) -> ModelConfig:
        allowed = CLASSIFICATION_METRICS if self.task == "classification" else REGRESSION_METRICS
        trigger_metric = self.policy.triggers.performance_metric if self.policy else None
        for name in [
            *(self.metrics or []),
            *(g.metric for g in self.gates),
            *([trigger_metric] if trigger_metric else []),
        ]:
            if name not in allowed:
                raise ValueError(f"unknown {self.task} metric '{name}'; allowed: {', '.join(allowed)}")
        if self.label in self.features.all():
            raise ValueError(f"the label '{self.label}' is also listed as a feature")
        if self.split.strategy == "time" and not self.timestamp:
            raise ValueError("split strategy 'time' needs the model's 'timestamp' column")
        if self.feature_service and not self.timestamp:
            raise ValueError(
                "feature_service needs the model's 'timestamp' column (the label's event time) "
                "for the point-in-time join"
            )
        return self

    def metric_names(self) -> list[str]:
        if self.metrics:
            return list(self.metrics)
        return list(CLASSIFICATION_METRICS if self.task == "classification" else REGRESSION_METRICS)


class StoresConfig(_Strict):
    """Where things are kept. Relative paths are relative to the project folder."""

    metadata: str = "sqlite:///.mlfactory/mlfactory.db"
    artifacts: str = ".mlfactory/artifacts"
    datasets: str = ".mlfactory/datasets"
    online: str = Field(
        default="sqlite:///.mlfactory/online.db",
        description="online feature store: sqlite:///PATH or redis://HOST:PORT/DB",
    )


class BatchingConfig(_Strict):
    """Adaptive micro-batching: concurrent small requests to one model version share one predict call."""

    enabled: bool = True
    max_rows: int = Field(default=512, ge=1, description="most rows one batched predict call takes")
    max_wait_ms: float = Field(
        default=0.0,
        ge=0.0,
        le=50.0,
        description="longest a request waits for others to join its batch, only while requests are queueing",
    )
    native_threads: int | None = Field(
        default=1,
        ge=1,
        description="OpenMP/BLAS threads a predict thread may use; 1 serves many small "
        "requests best on a small machine (measured in benchmarks/serving.py); null keeps library defaults",
    )


class PredictionLogConfig(_Strict):
    """Where and how often the server writes the prediction log (Parquet segments)."""

    enabled: bool = True
    path: str = ".mlfactory/predictions"
    flush_interval: float = Field(default=1.0, gt=0, le=60, description="seconds between segment writes")
    max_pending_rows: int = Field(
        default=2_000_000,
        ge=1000,
        description="rows held in memory before new ones are dropped (and counted)",
    )


class ServerConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    token: str | None = Field(default=None, description="bearer token required by changing endpoints")
    protect_predictions: bool = Field(default=False, description="prediction endpoints also need the token")
    max_rows: int = Field(default=10_000, ge=1)
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    reload_interval: float = Field(default=2.0, gt=0)
    default_model: str | None = Field(default=None, description="model behind POST /invocations")
    model_cache: int = Field(default=8, ge=1, description="explicitly requested versions kept loaded")
    shadow_queue: int = Field(
        default=64, ge=1, description="shadow requests waiting before new ones are skipped"
    )
    batching: BatchingConfig = BatchingConfig()
    prediction_log: PredictionLogConfig = PredictionLogConfig()


class FeatureStoreConfig(_Strict):
    """Where the project's feature definitions live and how offline retrieval may use memory."""

    module: str | None = Field(
        default=None,
        description="Python file (relative to the project) defining entities, feature views "
        "and feature services",
    )
    memory_limit: str = Field(
        default="2GB", description="DuckDB memory limit for point-in-time joins; larger joins spill to disk"
    )


# -- monitoring (issue 5) ---------------------------------------------------------------------------------

DriftMethod = Literal["auto", "ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi"]


class ColumnDriftConfig(_Strict):
    """How one column is checked for drift; unset fields take the monitoring section's defaults."""

    method: DriftMethod = "auto"
    threshold: float | None = Field(
        default=None,
        gt=0.0,
        description="p-value level for ks, chisquare and z; the distance that counts as "
        "drift for wasserstein (normed by the reference's standard deviation), jensenshannon and psi",
    )
    min_effect: float | None = Field(default=None, ge=0.0, description="smallest effect size a test may flag")
    enabled: bool = True


class AlertRuleConfig(_Strict):
    """A rule checked on every monitoring report: fires when ``metric`` is above or below its bound."""

    name: str = Field(min_length=1)
    metric: str = Field(
        description="a report metric, e.g. drift.share, performance.accuracy, "
        "estimated.accuracy, health.latency_p95_ms (see `mlfactory monitor report --json`)"
    )
    above: float | None = None
    below: float | None = None
    window: Duration | None = Field(default=None, description="only reports over this time window, e.g. 1h")
    min_rows: int = Field(default=0, ge=0, description="reports over fewer rows never fire")
    cooldown: Duration = Field(default=3600.0, ge=0.0, description="repeats within this time are suppressed")
    models: list[str] | None = Field(default=None, description="only these models (default: every model)")

    @model_validator(mode="after")
    def _one_bound(self) -> AlertRuleConfig:
        if self.above is None and self.below is None:
            raise ValueError(f"alert rule '{self.name}' needs 'above' or 'below'")
        return self


class MonitoringConfig(_Strict):
    """Drift, performance and alerting. Defaults follow the usual conventions (and Evidently's presets):
    up to ``small_sample`` rows a window is tested (Kolmogorov–Smirnov for numbers, chi-square or the
    two-proportion Z test for categories); above it distances are used (Wasserstein normed by the reference's
    standard deviation for numbers, Jensen–Shannon for categories)."""

    window: Duration = Field(default=3600.0, gt=0.0, description="default window of `monitor run`")
    min_rows: int = Field(default=100, ge=1, description="fewer rows in a window give no drift decision")
    small_sample: int = Field(default=1000, ge=1, description="windows up to this size use statistical tests")
    alpha: float = Field(default=0.05, gt=0.0, lt=1.0, description="p-value level of the tests")
    min_effect_numeric: float = Field(
        default=0.1, ge=0.0, description="smallest normed Wasserstein distance a test may flag as drift"
    )
    min_effect_categorical: float = Field(
        default=0.05, ge=0.0, description="smallest Jensen–Shannon distance a test may flag as drift"
    )
    wasserstein_threshold: float = Field(default=0.1, gt=0.0)
    jensenshannon_threshold: float = Field(default=0.1, gt=0.0)
    psi_threshold: float = Field(default=0.2, gt=0.0)
    drift_share: float = Field(
        default=0.5, gt=0.0, le=1.0, description="share of drifted columns that makes the dataset drifted"
    )
    columns: dict[str, ColumnDriftConfig] = Field(
        default={},
        description="per-column overrides by column name (text views as COLUMN.chars, "
        "COLUMN.words, COLUMN.oov_rate; outputs as prediction and score)",
    )
    performance_min_drop: float = Field(
        default=0.02, ge=0.0, description="smallest accuracy drop against the holdout that counts"
    )
    calibration_max_ece: float = Field(
        default=0.05, gt=0.0, le=1.0, description="expected calibration error above which estimates warn"
    )
    alerts: list[AlertRuleConfig] = []
    webhook_url: str | None = Field(default=None, description="firing alerts are posted here as JSON")
    webhook_timeout: float = Field(default=5.0, gt=0.0, le=60.0)
    reports_path: str = Field(default=".mlfactory/reports", description="where HTML and JSON reports go")

    @field_validator("webhook_url")
    @classmethod
    def _http(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError(f"webhook_url must start with http:// or https://, got {v!r}")
        return v

    @model_validator(mode="after")
    def _unique_rules(self) -> MonitoringConfig:
        names = [r.name for r in self.alerts]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"alert rule names must be unique; repeated: {dupes}")
        return self


class ProjectConfig(_Strict):
    """The whole project file."""

    name: str
    description: str = ""
    stores: StoresConfig = StoresConfig()
    sources: dict[str, SourceConfig] = {}
    models: dict[str, ModelConfig] = {}
    server: ServerConfig = ServerConfig()
    controller: ControllerConfig = ControllerConfig()
    features: FeatureStoreConfig = FeatureStoreConfig()
    monitoring: MonitoringConfig = MonitoringConfig()

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("the project needs a non-empty name")
        return v

    @model_validator(mode="after")
    def _sources_exist(self) -> ProjectConfig:
        for model_name, model in self.models.items():
            if model.source not in self.sources:
                known = ", ".join(sorted(self.sources)) or "none declared"
                raise ValueError(
                    f"model '{model_name}' uses unknown source '{model.source}' (sources: {known})"
                )
        return self


class LoadedConfig(BaseModel):
    """A validated project file, where it lives, and where each value came from."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    config: ProjectConfig
    root: Path
    file_hash: str
    origins: dict[str, str]

    def path(self, relative: str) -> Path:
        """Resolve a project-relative path, refusing one that escapes the project folder."""
        p = (self.root / relative).resolve()
        if self.root not in p.parents and p != self.root:
            raise ConfigError(
                f"path '{relative}' escapes the project folder {self.root}; use a path inside it"
            )
        return p

    def online_url(self) -> str:
        """The online store URL, with a relative SQLite path resolved inside the project."""
        url = self.config.stores.online
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            rel = url.removeprefix("sqlite:///")
            return f"sqlite:///{self.path(rel)}" if rel and rel != ":memory:" else url
        return url

    def metadata_url(self) -> str:
        url = self.config.stores.metadata
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            rel = url.removeprefix("sqlite:///")
            return f"sqlite:///{self.path(rel)}" if rel and rel != ":memory:" else url
        return url


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, Mapping):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: data}


def _apply_env(raw: dict[str, Any], env: Mapping[str, str]) -> list[str]:
    applied = []
    for key, value in sorted(env.items()):
        if not key.startswith(ENV_PREFIX) or "__" not in key:
            continue
        parts = [p.lower() for p in key.removeprefix(ENV_PREFIX).split("__")]
        node = raw
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{key} overrides '{'.'.join(parts)}', but '{part}' is not a section")
        node[parts[-1]] = yaml.safe_load(value) if value else value
        applied.append(".".join(parts))
    return applied


def _format_errors(exc: PydanticValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling)"
        elif err["type"] == "literal_error":
            msg = f"got {err.get('input')!r}; {msg.lower()}"
        elif "input" in err and not isinstance(err["input"], dict | list):
            msg = f"{msg} (got {err['input']!r})"
        lines.append(f"  {where}: {msg}")
    return f"{source} is not valid:\n" + "\n".join(lines)


def find_project_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` holding a project file."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / PROJECT_FILE).is_file():
            return folder
    raise ConfigError(
        f"no {PROJECT_FILE} in {here} or any folder above it; run `mlfactory init DIR` "
        "or `mlfactory quickstart` to create a project, or pass --project"
    )


def load_project_config(root: Path | str | None = None, env: Mapping[str, str] | None = None) -> LoadedConfig:
    """Read, override from the environment and validate a project's file.

    Args:
        root: the project folder (or its project file); searched upward from the working folder when None.
        env: environment to read ``MLFACTORY_*`` overrides from; the process environment when None.
    """
    if root is not None and Path(root).is_file():
        root = Path(root).parent
    if root is None:
        folder = find_project_root()
    else:
        folder = Path(root)
        if not (folder / PROJECT_FILE).is_file():
            raise ConfigError(
                f"no {PROJECT_FILE} in {folder}; run `mlfactory init {folder}` to create a project there"
            )
    file = folder / PROJECT_FILE
    text = file.read_text(encoding="utf-8")
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{file} is not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{file} must hold a mapping of settings, got {type(raw).__name__}")
    from_file = set(_flatten(raw))
    from_env = _apply_env(raw, os.environ if env is None else env)
    try:
        config = ProjectConfig.model_validate(raw)
    except PydanticValidationError as exc:
        raise ConfigError(_format_errors(exc, str(file))) from None
    origins: dict[str, str] = {}
    for key in _flatten(config.model_dump(mode="json")):
        if key in from_env or any(key.startswith(e + ".") for e in from_env):
            origins[key] = "env"
        elif key in from_file or any(key.startswith(f + ".") for f in from_file):
            origins[key] = "file"
        else:
            origins[key] = "default"
    return LoadedConfig(
        config=config,
        root=folder.resolve(),
        file_hash=hashlib.sha256(text.encode()).hexdigest(),
        origins=origins,
    )


def effective_settings(loaded: LoadedConfig) -> list[tuple[str, str, str]]:
    """Every setting as (dotted key, value as JSON, origin: file | env | default)."""
    flat = _flatten(loaded.config.model_dump(mode="json"))
    return [(k, json.dumps(v), loaded.origins.get(k, "default")) for k, v in flat.items()]
