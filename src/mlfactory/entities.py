"""Typed, immutable records that the stores return."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
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

    @property
    def duration_s(self) -> float | None:
        return (self.ended_at - self.started_at).total_seconds() if self.ended_at else None


@dataclass(frozen=True)
class ModelVersion:
    """A packaged model under a name, with everything needed to serve, monitor and trace it."""

    name: str
    version: int
    status: VersionStatus
    run_id: str | None
    artifact: str
    flavor: str
    signature: dict[str, Any]
    metrics: dict[str, Any]
    gates: list[dict[str, Any]]
    profile: dict[str, Any]
    lineage: dict[str, Any]
    card: str
    created_at: datetime
    aliases: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.name}/{self.version}"


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
    both act on the same state.
    """

    model: str
    state: str
    revision: int
    challenger: int | None
    champion: int | None
    data: dict[str, Any]
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
