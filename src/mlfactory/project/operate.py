"""Reading and steering a running project: registered models, runs, the audit log, the controller's pause
switch and feedback labels. Each method is a thin call into the store or stage package that owns it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlfactory.errors import ConfigError
from mlfactory.project.base import ProjectState

if TYPE_CHECKING:
    from mlfactory.entities import Event, ModelVersion, Rollout, Run
    from mlfactory.serving import FeedbackResult
    from mlfactory.stores.predictions import PredictionReader


class OperateMethods(ProjectState):
    """The Project's methods over models, runs, events, the controller switch and feedback."""

    # -- registered models ---------------------------------------------------------------------------------

    def model_names(self) -> list[str]:
        """Names of the models with at least one registered version, sorted."""
        return self.metadata.list_model_names()

    def versions(self, name: str, *, archived: bool = False) -> list[ModelVersion]:
        """Every registered version of a model, oldest first; archived ones (`mlfactory prune`) only when
        ``archived`` (without them the list may be empty).

        Raises:
            NotFoundError: no such model (the message names the known ones).
        """
        return self.metadata.list_model_versions(name, include_archived=archived)

    def version(self, ref: str) -> ModelVersion:
        """The version a reference points at: ``NAME/VERSION``, ``NAME@ALIAS`` or ``NAME`` (production).

        Raises:
            NotFoundError: no such model, version or alias.
        """
        return self.registry.resolve(ref)

    def aliases(self, name: str) -> dict[str, int]:
        """Where a model's aliases point: alias -> version."""
        return {alias: v for (_, alias), v in self.metadata.get_aliases(name).items()}

    def history(self, name: str) -> list[Event]:
        """Every registration and alias move of a model, oldest first.

        Raises:
            NotFoundError: no such model.
        """
        return self.registry.history(name)

    # -- runs ----------------------------------------------------------------------------------------------

    def run(self, run_id: str) -> Run:
        """One run (its full id or a prefix of exactly one run's id).

        Raises:
            NotFoundError: no such run, or the prefix starts several.
        """
        return self.metadata.get_run(run_id)

    def compare_runs(self, run_ids: Sequence[str]) -> tuple[list[Run], dict[str, dict[str, Any]]]:
        """The runs (read together, in a few queries), and their params and metrics side by side:
        ``params.X`` / ``metrics.Y`` -> run id -> value (see :func:`mlfactory.tracking.compare_runs`).

        Raises:
            NotFoundError: one of the runs does not exist.
            ConflictError: a prefix starts several runs' ids.
        """
        from mlfactory.tracking import compare_runs

        runs = self.metadata.get_runs(run_ids)
        return runs, compare_runs(runs)

    # -- the audit log and the controller -----------------------------------------------------------------

    def events(
        self,
        *,
        model: str | None = None,
        since: datetime | None = None,
        kinds: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """The audit log, oldest first: every trigger, gate, route change, promotion and rollback.

        Args:
            model: only this model's events.
            since: only events at or after this time.
            kinds: only these kinds (e.g. ``alias.set``).
            limit: only the newest this many.
        """
        return self.metadata.list_events(model=model, since=since, kinds=kinds, limit=limit)

    def managed_models(self) -> list[str]:
        """The declared models with a controller policy, in the project file's order."""
        return [n for n, m in self.config.models.items() if m.policy is not None]

    def rollout(self, name: str) -> Rollout:
        """Where the controller is with a model (an ``idle`` rollout when it never acted)."""
        return self.metadata.get_rollout(name)

    def pause(self, model: str | None = None, *, reason: str = "", actor: str | None = None) -> list[Event]:
        """Stop the controller acting on one model, or on every managed model; serving is not affected.

        Args:
            model: the model (None: every managed model).
            reason: why, for the audit log.
            actor: who asks (default: the project's actor; the dashboard passes the token's name).

        Returns:
            One ``controller.paused`` event per model.

        Raises:
            ConfigError: the project file declares no such model.
        """
        return self._set_paused(model, True, reason, actor)

    def resume(self, model: str | None = None, *, reason: str = "", actor: str | None = None) -> list[Event]:
        """Let the controller act on one model, or on every managed model, again.

        Args:
            model: the model (None: every managed model).
            reason: why, for the audit log.
            actor: who asks (default: the project's actor).

        Returns:
            One ``controller.resumed`` event per model.

        Raises:
            ConfigError: the project file declares no such model.
        """
        return self._set_paused(model, False, reason, actor)

    def _set_paused(self, model: str | None, paused: bool, reason: str, actor: str | None) -> list[Event]:
        if model is not None and model not in self.config.models:
            raise ConfigError(
                f"no model '{model}' in the project file (models: {', '.join(self.config.models)})"
            )
        names = [model] if model else self.managed_models()
        who = self._who(actor)
        return [self.metadata.set_paused(n, paused, actor=who, reason=reason) for n in names]

    # -- feedback ------------------------------------------------------------------------------------------

    def feedback(
        self,
        labels: Path | Sequence[tuple[str, Any]],
        *,
        actor: str | None = None,
        log: PredictionReader | None = None,
    ) -> FeedbackResult:
        """Attach true labels to request ids of the prediction log, each checked against its model's label
        (see :func:`mlfactory.serving.record_feedback`); unknown ids are reported back, not stored.

        Args:
            labels: (request id, label) pairs, or a CSV or Parquet file with columns request_id and label.
            actor: who produced the labels (default: the project's actor); a name starting with ``auto``
                marks labels the controller never retrains on.
            log: the prediction log the ids must come from (default: the project's; a server passes its
                own writer).

        Raises:
            NotFoundError: the labels file does not exist.
            ValidationError: a malformed file, or labels that do not fit their model (rows named).
        """
        from mlfactory.serving import read_feedback_file, record_feedback

        pairs = read_feedback_file(labels) if isinstance(labels, Path) else labels
        modes = {name: m.on_invalid_labels for name, m in self.config.models.items()}
        return record_feedback(
            self.metadata,
            log if log is not None else self.predictions,
            pairs,
            actor=self._who(actor),
            on_invalid=modes,
        )
