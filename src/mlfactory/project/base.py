"""What every area of :class:`~mlfactory.project.Project` shares: the opened stores and settings.

The Project's methods are split by area into mixins (``deploy``, ``monitor``, ``operate``), each a thin,
documented call into the stage package that owns the work. They declare here what they read from the
opened project, so each module type-checks on its own.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlfactory.compute import Executor
    from mlfactory.config import LoadedConfig, ProjectConfig
    from mlfactory.registry import Registry
    from mlfactory.stores import MetadataStore
    from mlfactory.stores.predictions import PredictionReader


class ProjectState:
    """The opened project's state that the area mixins use (set by ``Project.__init__``)."""

    loaded: LoadedConfig
    config: ProjectConfig
    actor: str
    metadata: MetadataStore
    registry: Registry

    def _who(self, actor: str | None) -> str:
        """The actor recorded in the audit log: the caller's (a server request's token name), else the
        project's."""
        return actor or self.actor

    @cached_property
    def predictions(self) -> PredictionReader:
        """The project's prediction log, for reading, where its servers write it (``server.prediction_log``);
        opened on first use."""
        # pandas, pyarrow, duckdb: only readers of the log pay for them
        from mlfactory.stores.predictions import open_prediction_reader

        return open_prediction_reader(self.loaded)

    @cached_property
    def compute(self) -> Executor:
        """Where the project's heavy work runs (``compute``: local, ray or ray://host:port); opened on first
        use, closed with the project."""
        from mlfactory.compute import open_executor

        return open_executor(self.config.compute)
