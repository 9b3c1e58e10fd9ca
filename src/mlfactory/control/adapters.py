"""The rollout steps' ports over a real project: its registry, routing policy, prediction log and training.

Each adapter is a few lines over one :class:`~mlfactory.project.Project` area; the steps never see the
project itself, so they are tested with fakes instead (``tests/unit/control``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

import pandas as pd

from mlfactory.config import PolicyConfig
from mlfactory.control.evidence import Datasets
from mlfactory.control.feedback import feedback_training_rows
from mlfactory.control.steps.ports import Trained
from mlfactory.entities import PRODUCTION, ModelVersion
from mlfactory.errors import NotFoundError
from mlfactory.stores.metadata import MetadataStore
from mlfactory.stores.predictions import PredictionReader

if TYPE_CHECKING:
    from mlfactory.project import Project


class RegistryVersions:
    """:class:`~mlfactory.control.steps.ports.Versions` over the project's registry."""

    def __init__(self, project: Project, actor: str) -> None:
        self._project = project
        self._actor = actor

    def champion(self, name: str) -> ModelVersion | None:
        try:
            return self._project.registry.resolve(f"{name}@{PRODUCTION}")
        except NotFoundError:
            return None

    def get(self, name: str, version: int) -> ModelVersion:
        return self._project.registry.resolve(f"{name}/{version}")

    def promote(self, name: str, version: int, *, reason: str) -> None:
        self._project.registry.promote(name, version, actor=self._actor, reason=reason)

    def rollback(self, name: str, *, reason: str) -> None:
        self._project.registry.rollback(name, actor=self._actor, reason=reason)


class ProjectRoutes:
    """:class:`~mlfactory.control.steps.ports.Routes` over the project's routing policy."""

    def __init__(self, project: Project, actor: str) -> None:
        self._project = project
        self._actor = actor

    def shadow(self, name: str, version: int | None, *, reason: str) -> None:
        self._project.deploy_shadow(name, version, actor=self._actor, reason=reason)

    def canary(self, name: str, version: int, *, weight: float, key: str | None, reason: str) -> None:
        self._project.deploy_canary(name, version, weight=weight, key=key, actor=self._actor, reason=reason)

    def clear(self, name: str, *, reason: str) -> None:
        self._project.deploy_clear(name, actor=self._actor, reason=reason)


class LogTraffic:
    """:class:`~mlfactory.control.steps.ports.Traffic` over the prediction log and the stored labels."""

    def __init__(self, log: PredictionReader, metadata: MetadataStore) -> None:
        self._log = log
        self._metadata = metadata

    def answered(self, name: str, *, version: int, route: str, since: datetime) -> int:
        return len(self._log.query(model=name, version=version, route=route, since=since))

    def with_feedback(self, name: str, *, version: int, route: str, since: datetime | None) -> pd.DataFrame:
        return self._log.with_feedback(self._metadata, model=name, version=version, route=route, since=since)


class ProjectTrainer:
    """:class:`~mlfactory.control.steps.ports.Trainer`: ingest the source (once per pass), refresh the
    model's feature views, add the labelled production traffic, train (a search within the policy's
    ``retrain_search_timeout`` when it sets one)."""

    def __init__(
        self, project: Project, datasets: Datasets, actor: str, progress: Callable[[str], None]
    ) -> None:
        self._project = project
        self._datasets = datasets
        self._actor = actor
        self._progress = progress

    def __call__(self, name: str, policy: PolicyConfig) -> Trained:
        project, model = self._project, self._project.config.models[name]
        self._progress(f"{name}: ingesting source '{model.source}'")
        dataset = self._datasets.newest(model.source)
        self._refresh_features(name)
        feedback = (
            feedback_training_rows(project.predictions, project.metadata, name, model)
            if policy.include_feedback
            else None
        )
        extra = 0 if feedback is None else len(feedback.frame)
        self._progress(
            f"{name}: training on dataset {dataset.id} ({dataset.n_rows:,} rows) and {extra:,} labelled "
            "requests, then evaluating, gating and saving"
        )
        result = project.train(
            name,
            dataset=dataset.id,
            feedback=feedback,
            max_rows=policy.max_training_rows,
            actor=self._actor,
            search_timeout=policy.retrain_search_timeout,
        )
        return Trained(
            dataset=dataset.id,
            version=result.version,
            metrics=result.metrics,
            gates=result.gates,
            passed=result.passed,
        )

    def _refresh_features(self, name: str) -> None:
        """Materialize the model's feature views from the data just ingested, before the challenger trains on
        it, so the values it is served online are the ones it learned from (incremental: cheap when nothing
        changed)."""
        service = self._project.config.models[name].feature_service
        if not service:
            return
        fs = self._project.features
        views = [sel.view.name for sel in fs.repo.service(service).selections()]
        fs.materialize(views, actor=self._actor)
