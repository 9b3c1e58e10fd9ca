"""Opening the project once per command, from the --project option given to the app."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from mlfactory.project import Project


def project_from(ctx: typer.Context) -> Project:
    from mlfactory.project import open_project  # heavy (scikit-learn); only commands that need it pay

    root: Path | None = (ctx.obj or {}).get("project")
    project = open_project(root)
    ctx.call_on_close(project.close)
    return project
