"""The SDK entry point: open a project and run the lifecycle from Python.

import mlfactory
with mlfactory.open_project("myproject") as project:
    project.ingest("emails")
    result = project.train("spam")
    project.promote("spam", result.version.version, reason="first model")
"""

from typing import TYPE_CHECKING

from mlfactory.lazy import lazy_names
from mlfactory.project.core import Project, open_project

if TYPE_CHECKING:
    from mlfactory.project.train import TrainResult

# training pulls in scikit-learn: loaded on first use, so opening a project to list or look up stays light
_LAZY = {"TrainResult": "mlfactory.project.train"}


__getattr__ = lazy_names(__name__, _LAZY)


__all__ = ["Project", "TrainResult", "open_project"]
