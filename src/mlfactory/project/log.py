"""Upkeep of the prediction log: compaction and retention, thin calls into
:mod:`mlfactory.stores.predictions.upkeep` (safe while servers write and monitoring reads)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from mlfactory.config import parse_duration
from mlfactory.errors import ConfigError
from mlfactory.project.base import ProjectState

if TYPE_CHECKING:
    from mlfactory.stores.predictions.upkeep import CompactionResult, PruneResult


class LogMethods(ProjectState):
    """The Project's methods over the prediction log's files."""

    def compact_log(
        self, model: str | None = None, older_than: float | str = 0.0, *, grace: float | None = None
    ) -> CompactionResult:
        """Merge each model's segments of a day into one file, and remove files merged long enough ago.

        Safe while servers write and readers read (see :mod:`mlfactory.stores.predictions.layout`); run one
        compaction at a time.

        Args:
            model: only this model's log (every model when None).
            older_than: leave segments younger than this (seconds, or a duration such as ``1h``).
            grace: seconds a merged file must exist before the files it replaced are removed (default
                :data:`~mlfactory.stores.predictions.upkeep.REMOVE_GRACE`, longer than a monitoring read).
        """
        from mlfactory.stores.predictions.upkeep import REMOVE_GRACE, compact

        try:
            young = parse_duration(older_than)
        except ValueError as exc:
            raise ConfigError(f"--older-than: {exc}") from None
        return compact(self.predictions.tree, model, young, REMOVE_GRACE if grace is None else grace)

    def prune_log(self, now: datetime | None = None) -> PruneResult:
        """Remove the days of the prediction log older than ``server.prediction_log.retention``.

        Args:
            now: the current time (default: the clock).

        Raises:
            ConfigError: no retention is set (the log keeps everything).
        """
        from mlfactory.stores.predictions.upkeep import prune

        retention = self.config.server.prediction_log.retention
        if retention is None:
            raise ConfigError(
                "server.prediction_log.retention is not set, so the prediction log keeps everything; set it "
                "in the project file (e.g. retention: 90d) to prune"
            )
        return prune(self.predictions.tree, retention, now)
