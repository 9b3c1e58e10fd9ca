"""Small builders for tests that need a real project on disk."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from mlfactory.project import Project, open_project
from mlfactory.quickstart import init_project


def make_project(
    root: Path,
    *,
    rows: int = 1500,
    metadata_url: str | None = None,
    seed: int = 7,
    feature_service: bool = False,
) -> Project:
    """The quickstart's spam project (smaller), optionally on another metadata store, ingested.

    Without ``feature_service`` the model takes only the email's own columns (no online lookups), as the
    serving, registry and controller tests expect; the feature store's tests turn it on.
    """
    init_project(root, rows=rows, seed=seed)
    if not feature_service:
        without_feature_service(root)
    env = {"MLFACTORY_STORES__METADATA": metadata_url} if metadata_url else {}
    project = open_project(root, env=env, actor="test")
    project.ingest("emails")
    return project


def without_feature_service(root: Path) -> None:
    """Comment out the quickstart model's feature service in the project file at ``root``."""
    y = root / "mlfactory.yaml"
    text = y.read_text()
    for line in ("    feature_service: sender_activity", "    on_missing_features: defaults"):
        assert line in text, f"the quickstart project file no longer has {line.strip()!r}"
        text = text.replace(line, "    # " + line.strip())
    y.write_text(text)


def managed_project(root: Path, *, policy: dict[str, Any], gate_min: float = 0.9, **model: Any) -> Project:
    """A trained, promoted spam project whose model has the given controller policy (and other model
    settings), opened."""
    make_project(root, rows=1200).close()
    path = root / "mlfactory.yaml"
    config = yaml.safe_load(path.read_text())
    config["models"]["spam"]["policy"] = policy
    config["models"]["spam"].update(model)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    project = open_project(root, env={}, actor="test")
    project.promote("spam", project.train("spam").version.version, reason="first")
    if gate_min != 0.9:
        config["models"]["spam"]["gates"][0]["min"] = gate_min
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        project.close()
        project = open_project(root, env={}, actor="test")
    return project


def cli_command(root: Path, *args: str) -> list[str]:
    """The `mlfactory` command line for a project, run by this interpreter (for subprocess tests)."""
    return [sys.executable, "-m", "mlfactory.cli.main", "--project", str(root), *args]
