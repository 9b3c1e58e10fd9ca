"""A served spam project for serving tests: built once per session, copied per test."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pandas as pd
from fastapi.testclient import TestClient

from mlfactory.config import ServerConfig
from mlfactory.project import Project, open_project
from mlfactory.server import ServerSettings, create_app
from project_helpers import build_trained

VERSIONS = 3


def build_template(root: Path) -> Path:
    """A spam project with versions 1..3 (same data) and version 1 in production."""
    return build_trained(root, rows=1200, versions=VERSIONS, production=1)


def copy_project(template: Path, dest: Path) -> Path:
    shutil.copytree(template, dest)
    return dest


def open_copy(path: Path, actor: str = "test") -> Project:
    return open_project(path, env={}, actor=actor)


def sample_records(project_root: Path, n: int = 5) -> list[dict[str, Any]]:
    """Input rows of the spam model (no label), as JSON-ready records."""
    frame = pd.read_csv(project_root / "data" / "emails.csv").head(n)
    cols = ["n_links", "n_attachments", "hour_sent", "sender_domain", "language", "subject", "body"]
    return [
        {k: (None if pd.isna(v) else v) for k, v in r.items()} for r in frame[cols].to_dict(orient="records")
    ]


def make_client(root: Path, **server: object) -> TestClient:
    """A TestClient over an app serving ``root`` (reload every 0.2 s, seeded routing)."""
    cfg = ServerConfig(**{"reload_interval": 0.2, **server})  # type: ignore[arg-type]
    return TestClient(create_app(ServerSettings(project=root, env={}, server=cfg, routing_seed=1)))
