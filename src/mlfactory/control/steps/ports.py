"""What the rollout steps read and write, as narrow protocols: each step is handed these, never the project.

Rollouts and the audit log are the metadata store's own families
(:class:`~mlfactory.stores.metadata.ControlStore`, :class:`~mlfactory.stores.metadata.EventsStore`); the other
ports are small adapters over the project (:mod:`mlfactory.control.adapters`), and unit tests pass in-memory
fakes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import pandas as pd

from mlfactory.config import PolicyConfig
from mlfactory.control.triggers import Fired
from mlfactory.entities import GateResult, ModelVersion


class Versions(Protocol):
    """The registry as the steps need it: who is in production, and moving production."""

    def champion(self, name: str) -> ModelVersion | None:
        """The production version, or None when the model has none."""
        ...

    def get(self, name: str, version: int) -> ModelVersion:
        """One version; NotFoundError when it does not exist."""
        ...

    def promote(self, name: str, version: int, *, reason: str) -> None:
        """Point production at ``version``."""
        ...

    def rollback(self, name: str, *, reason: str) -> None:
        """Move production back to the version it held before."""
        ...


class Routes(Protocol):
    """The model's routing policy: shadow and canary."""

    def shadow(self, name: str, version: int | None, *, reason: str) -> None:
        """Send a copy of traffic to ``version`` (None: stop shadowing)."""
        ...

    def canary(self, name: str, version: int, *, weight: float, key: str | None, reason: str) -> None:
        """Send ``weight`` percent of traffic to ``version``."""
        ...

    def clear(self, name: str, *, reason: str) -> None:
        """Remove the routing policy; NotFoundError when there is none."""
        ...


class Traffic(Protocol):
    """The prediction log, joined with the labels received."""

    def answered(self, name: str, *, version: int, route: str, since: datetime) -> int:
        """How many rows ``version`` answered on ``route`` since ``since``."""
        ...

    def with_feedback(self, name: str, *, version: int, route: str, since: datetime | None) -> pd.DataFrame:
        """The rows ``version`` answered on ``route`` since ``since``, with a ``label`` column (empty where
        no label arrived)."""
        ...


@dataclass(frozen=True)
class Trained:
    """A retrain's outcome: the dataset it trained on, the registered challenger, its holdout metrics and
    gate results, and whether it passed them (registered ``ready``)."""

    dataset: str
    version: ModelVersion
    metrics: Mapping[str, Any]
    gates: tuple[GateResult, ...]
    passed: bool

    @property
    def failed(self) -> list[str]:
        """Why each failed gate failed."""
        return [g.detail for g in self.gates if not g.passed]


class Trainer(Protocol):
    """Ingest the model's source, train, evaluate, gate and register a challenger."""

    def __call__(self, name: str, policy: PolicyConfig) -> Trained:
        """The challenger; raises whatever broke (the retrain step records it)."""
        ...


class Retrains(Protocol):
    """Retrains running in the background, at most one per model, kept by the controller across passes (a
    retrain outlasts the pass that started it, so the other models are still watched meanwhile)."""

    def start(self, name: str, policy: PolicyConfig, train: Trainer) -> Future[Trained]:
        """Start ``train(name, policy)`` in the background; ConflictError when one already runs for it."""
        ...

    def job(self, name: str) -> Future[Trained] | None:
        """The model's retrain this controller started and has not collected, or None (it started none, or
        it is not the process that did)."""
        ...

    def collect(self, name: str) -> None:
        """Forget the model's finished retrain once its outcome is recorded."""
        ...


class TriggerCheck(Protocol):
    """Gathers the pass's evidence once and runs the pure triggers on it."""

    def __call__(self, name: str, champion: ModelVersion) -> list[Fired]:
        """The triggers that fire now."""
        ...


Clock = Callable[[], datetime]
