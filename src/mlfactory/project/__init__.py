"""The SDK entry point: open a project and run the lifecycle from Python.

import mlfactory
with mlfactory.open_project("myproject") as project:
    project.ingest("emails")
    result = project.train("spam")
    project.promote("spam", result.version.version, reason="first model")
"""

from mlfactory.project.core import Project, open_project
from mlfactory.project.train import TrainResult

__all__ = ["Project", "TrainResult", "open_project"]
