"""mlfactory: a factory for ML models that keeps itself running.

The public SDK: open a project and run the lifecycle from Python; the `mlfactory` command is a thin layer
over the same functions.
"""

from typing import TYPE_CHECKING, Any

from mlfactory.config import LoadedConfig, ProjectConfig, load_project_config
from mlfactory.entities import DatasetVersion, Event, Metric, ModelVersion, Run, RunStatus, VersionStatus
from mlfactory.errors import MLFactoryError

if TYPE_CHECKING:
    from mlfactory.project import Project, TrainResult, open_project

_LAZY = {"Project", "TrainResult", "open_project"}  # they pull in scikit-learn; load on first use


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import mlfactory.project

        return getattr(mlfactory.project, name)
    raise AttributeError(f"module 'mlfactory' has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "DatasetVersion",
    "Event",
    "LoadedConfig",
    "MLFactoryError",
    "Metric",
    "ModelVersion",
    "Project",
    "ProjectConfig",
    "Run",
    "RunStatus",
    "TrainResult",
    "VersionStatus",
    "__version__",
    "load_project_config",
    "open_project",
]
