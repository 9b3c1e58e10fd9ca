"""Small builders for tests that need a real project on disk."""

from __future__ import annotations

from pathlib import Path

from mlfactory.project import Project, open_project
from mlfactory.quickstart import init_project


def make_project(root: Path, *, rows: int = 1500, metadata_url: str | None = None, seed: int = 7) -> Project:
    """The quickstart's spam project (smaller), optionally on another metadata store, ingested."""
    init_project(root, rows=rows, seed=seed)
    env = {"MLFACTORY_STORES__METADATA": metadata_url} if metadata_url else {}
    project = open_project(root, env=env, actor="test")
    project.ingest("emails")
    return project
