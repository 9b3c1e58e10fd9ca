"""The project file (`mlfactory.yaml`) as pydantic models: the one place every setting and its default lives.

Configuration is built once at the edge (CLI, server factory) by :func:`load_project_config` and passed down.
Environment variables ``MLFACTORY_<SECTION>__<KEY>`` override the file, e.g.
``MLFACTORY_STORES__METADATA=postgresql+psycopg://postgres@127.0.0.1:5432/test``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
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

    @model_validator(mode="after")
    def _metrics_known(self) -> ModelConfig:
        allowed = CLASSIFICATION_METRICS if self.task == "classification" else REGRESSION_METRICS
        for name in [*(self.metrics or []), *(g.metric for g in self.gates)]:
            if name not in allowed:
                raise ValueError(f"unknown {self.task} metric '{name}'; allowed: {', '.join(allowed)}")
        if self.label in self.features.all():
            raise ValueError(f"the label '{self.label}' is also listed as a feature")
        if self.split.strategy == "time" and not self.timestamp:
            raise ValueError("split strategy 'time' needs the model's 'timestamp' column")
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


class BatchingConfig(_Strict):
    """Adaptive micro-batching: concurrent small requests to one model version share one predict call."""

    enabled: bool = True
    max_rows: int = Field(default=512, ge=1, description="most rows one batched predict call takes")
    max_wait_ms: float = Field(
        default=0.0, ge=0.0, le=50.0,
        description="longest a request waits for others to join its batch, only while requests are queueing",
    )


class PredictionLogConfig(_Strict):
    """Where and how often the server writes the prediction log (Parquet segments)."""

    enabled: bool = True
    path: str = ".mlfactory/predictions"
    flush_interval: float = Field(default=1.0, gt=0, le=60, description="seconds between segment writes")
    max_pending_rows: int = Field(
        default=2_000_000, ge=1000, description="rows held in memory before new ones are dropped (and counted)"
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
    shadow_queue: int = Field(default=64, ge=1, description="shadow requests waiting before new ones are skipped")
    batching: BatchingConfig = BatchingConfig()
    prediction_log: PredictionLogConfig = PredictionLogConfig()


class ProjectConfig(_Strict):
    """The whole project file."""

    name: str
    description: str = ""
    stores: StoresConfig = StoresConfig()
    sources: dict[str, SourceConfig] = {}
    models: dict[str, ModelConfig] = {}
    server: ServerConfig = ServerConfig()

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
            raise ConfigError(f"path '{relative}' escapes the project folder {self.root}; use a path inside it")
        return p

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
