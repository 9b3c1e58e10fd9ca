"""The server: binding, limits, micro-batching and the prediction log."""

from __future__ import annotations

from pydantic import Field, field_validator

from mlfactory.config.base import Duration, _Strict


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
    """Where and how often the server writes the prediction log (Parquet segments).

    It lives under ``server:`` because servers write the log, but every reader opens the same folder from
    ``path`` (monitoring, feedback, the controller, skew reports, ``mlfactory verify``): see
    :mod:`mlfactory.stores.predictions`. ``path`` is a folder (relative to the project) or a storage URL
    (``s3://bucket/prefix``, ``gs://…``, ``az://…``, reached with ``stores.storage_options``).
    ``mlfactory log compact`` merges small segments; ``mlfactory log prune`` drops days past ``retention``.
    """

    enabled: bool = True
    path: str = ".mlfactory/predictions"
    flush_interval: float = Field(default=1.0, gt=0, le=60, description="seconds between segment writes")
    max_pending_rows: int = Field(
        default=2_000_000,
        ge=1000,
        description="rows held in memory, waiting to be written or kept while the log's storage refuses "
        "writes (written when it takes them again), before new ones are dropped (and counted)",
    )
    retention: Duration | None = Field(
        default=None,
        description="how long to keep logged rows, e.g. 90d (whole days: `mlfactory log prune` removes days "
        "older than this); null keeps everything",
    )

    @field_validator("retention")
    @classmethod
    def _whole_days(cls, v: float | None) -> float | None:
        if v is not None and v < 86400:
            raise ValueError(f"retention keeps whole days; use at least 1d (got {v:g} seconds)")
        return v


class ServerConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    token: str | None = Field(default=None, description="bearer token required by changing endpoints")
    protect_predictions: bool = Field(default=False, description="prediction endpoints also need the token")
    max_rows: int = Field(default=10_000, ge=1)
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    reload_interval: float = Field(default=2.0, gt=0)
    ui: bool = Field(default=True, description="mount the dashboard at /ui (false for serving-only replicas)")
    default_model: str | None = Field(default=None, description="model behind POST /invocations")
    model_cache: int = Field(default=8, ge=1, description="explicitly requested versions kept loaded")
    shadow_queue: int = Field(
        default=64, ge=1, description="shadow requests waiting before new ones are skipped"
    )
    batching: BatchingConfig = BatchingConfig()
    prediction_log: PredictionLogConfig = PredictionLogConfig()
