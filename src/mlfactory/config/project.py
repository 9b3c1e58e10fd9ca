"""The whole project file and a loaded, validated copy of it."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mlfactory.config.base import Duration, MemorySize, _Strict, parse_size
from mlfactory.config.data import SourceConfig
from mlfactory.config.models import ModelConfig
from mlfactory.config.monitoring import MonitoringConfig
from mlfactory.config.serving import ServerConfig
from mlfactory.errors import ConfigError

# option names that carry credentials in fsspec backends (key, secret, token, sas_token, account_key, …)
_SECRET_WORDS = ("key", "secret", "token", "password", "credential", "passwd", "sas")

# where the heavy work runs (see mlfactory.compute): no credentials in it, a host and port at most
COMPUTE_URL = re.compile(r"^(local|ray|ray://(?P<host>[A-Za-z0-9.\-]+):(?P<port>\d{1,5}))$")


class ArtifactCacheConfig(_Strict):
    """The local copies a bucket artifact store keeps for readers that need a file."""

    max_size: MemorySize | None = Field(
        default="10GiB",
        description="disk the cache under .mlfactory/cache/artifacts may use (e.g. 500MB, 10GiB); the least "
        "recently used copies are removed past it; null keeps every copy",
    )

    @field_validator("max_size")
    @classmethod
    def _positive(cls, v: str | None) -> str | None:
        if v is not None and parse_size(v) <= 0:
            raise ValueError(
                f"'{v}' leaves no room for a cached artifact; give a size such as 10GiB, or null"
            )
        return v

    def limit(self) -> int | None:
        """The size in bytes, or None for no limit."""
        return None if self.max_size is None else parse_size(self.max_size)


class StoresConfig(_Strict):
    """Where things are kept. Relative paths are relative to the project folder."""

    metadata: str = "sqlite:///.mlfactory/mlfactory.db"
    artifacts: str = ".mlfactory/artifacts"
    datasets: str = ".mlfactory/datasets"
    online: str = Field(
        default="sqlite:///.mlfactory/online.db",
        description="online feature store: sqlite:///PATH or redis://HOST:PORT/DB",
    )
    storage_options: dict[str, str | int | bool] = Field(
        default={},
        description="non-secret settings for object storage URLs (endpoint_url, region, anonymous, …); "
        "credentials come from the environment, a profile or the instance role",
    )
    artifact_cache: ArtifactCacheConfig = ArtifactCacheConfig()

    @field_validator("storage_options")
    @classmethod
    def _no_secrets(cls, v: dict[str, str | int | bool]) -> dict[str, str | int | bool]:
        for key in v:
            if any(word in key.lower() for word in _SECRET_WORDS):
                raise ValueError(
                    f"stores.storage_options.{key} looks like a credential; secrets never go in the project "
                    "file. Remove it: credentials come from the environment (e.g. AWS_ACCESS_KEY_ID), a "
                    "profile or the instance role"
                )
        return v


class FeatureSplitConfig(_Strict):
    """When a feature view that declares ``per_entity=True`` is split by entity across the compute workers:
    a source of at least ``min_rows`` rows on an executor of at least ``min_workers`` workers. Below either,
    the view is computed in one process; the table is the same either way.

    Measured on two local workers (the quickstart view on a skewed source of 0.1 to 2 million rows), the
    split took longer than one process at every size: the check that the view is per entity, each worker's
    read of the snapshot, the parts' trip back and their merge cost what the second worker saved. So by
    default a split needs four workers (a quarter of the work each) and a million rows.
    """

    min_rows: int = Field(default=1_000_000, description="source rows from which a per-entity view is split")
    min_workers: int = Field(default=4, description="compute workers from which a per-entity view is split")

    @field_validator("min_rows")
    @classmethod
    def _rows_ok(cls, v: int) -> int:
        if v < 1:
            raise ValueError("a split needs a source row count of 1 or more (the default is 1000000)")
        return v

    @field_validator("min_workers")
    @classmethod
    def _workers_ok(cls, v: int) -> int:
        if v < 2:
            raise ValueError(
                "a split needs 2 workers or more (the default is 4); to compute every view in one process, "
                "raise min_rows above your sources' sizes instead"
            )
        return v


class FeatureStoreConfig(_Strict):
    """Where the project's feature definitions live, how offline retrieval may use memory, and when a
    per-entity view is split across the compute workers."""

    module: str | None = Field(
        default=None,
        description="Python file (relative to the project) defining entities, feature views "
        "and feature services",
    )
    memory_limit: MemorySize = Field(
        default="2GB", description="DuckDB memory limit for point-in-time joins; larger joins spill to disk"
    )
    split: FeatureSplitConfig = FeatureSplitConfig()


class ControllerConfig(_Strict):
    interval: Duration = Field(default=60.0, gt=0.0, description="seconds between passes of `controller run`")
    lease: Duration = Field(default=300.0, gt=0.0, description="how long a controller owns a model's rollout")


class TrainingConfig(_Strict):
    """How this process fits models."""

    native_threads: int | None = Field(
        default=1,
        ge=1,
        description="OpenMP/BLAS threads a fit (and its holdout scoring) may use; one fit of the quickstart "
        "model took 1.0-1.7 s with 1 and 16-31 s with the defaults on a busy two-core machine, where "
        "idle threads spin; null keeps library defaults",
    )


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
    training: TrainingConfig = TrainingConfig()
    compute: str = Field(
        default="local",
        description="where heavy work runs: local (this machine's processes), ray (a Ray started on loopback "
        "when first needed) or ray://HOST:PORT (an existing cluster's client port, usually 10001); "
        "environment override MLFACTORY_COMPUTE",
    )

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("the project needs a non-empty name")
        return v

    @field_validator("compute")
    @classmethod
    def _compute_ok(cls, v: str) -> str:
        match = COMPUTE_URL.match(v)
        if match is None or not 0 < int(match.group("port") or 1) < 65536:
            raise ValueError(
                "not an executor; write local, ray (a Ray on this machine) or ray://HOST:PORT (an "
                "existing Ray cluster's client address, e.g. ray://head:10001)"
            )
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
        """Resolve a path from the project file. An absolute path is the owner's explicit choice (a shared
        folder, say) and is kept; a relative one must stay inside the project folder (no ``..`` escapes)."""
        if Path(relative).is_absolute():
            return Path(relative)
        p = (self.root / relative).resolve()
        if self.root not in p.parents and p != self.root:
            raise ConfigError(
                f"path '{relative}' escapes the project folder {self.root}; use a path inside it, or an "
                "absolute path if you mean a folder elsewhere"
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
