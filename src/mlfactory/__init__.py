"""mlfactory: a factory for ML models that keeps itself running.

The public SDK: open a project and run the lifecycle from Python; the `mlfactory` command is a thin layer
over the same functions.
"""

from typing import TYPE_CHECKING

from mlfactory.entities import DatasetVersion, Event, Metric, ModelVersion, Run, RunStatus, VersionStatus
from mlfactory.errors import MLFactoryError
from mlfactory.lazy import lazy_names

if TYPE_CHECKING:
    from mlfactory.config import LoadedConfig, ProjectConfig, load_project_config
    from mlfactory.project import Project, TrainResult, open_project

# loaded on first use, so `import mlfactory.errors` (every CLI command, `mlfactory --help`) stays light:
# the project pulls in the stores, the config its pydantic models
_LAZY = {
    "LoadedConfig": "mlfactory.config",
    "ProjectConfig": "mlfactory.config",
    "load_project_config": "mlfactory.config",
    "Project": "mlfactory.project",
    "TrainResult": "mlfactory.project",
    "open_project": "mlfactory.project",
}


__getattr__ = lazy_names(__name__, _LAZY)


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
