"""A small real project for the dashboard's tests: the quickstart's files on SQLite, filled through the
store (see :mod:`unit.dashboard.dashboard_data`), and HTTP clients of the dashboard over it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mlfactory.config import ServerConfig
from mlfactory.dashboard import create_dashboard
from mlfactory.project import Project, open_project
from mlfactory.quickstart import init_project
from unit.dashboard.dashboard_data import MakeClient, fill


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    root = tmp_path / "spam"
    init_project(root, rows=200)
    with open_project(root, env={}, actor="test") as opened:
        fill(opened)
        yield opened


@pytest.fixture
def make_client(project: Project) -> Iterator[MakeClient]:
    clients: list[TestClient] = []

    def make(**server: object) -> TestClient:
        cfg = ServerConfig(**server)  # type: ignore[arg-type]
        app = create_dashboard(lambda: project, server=lambda: cfg)
        client = TestClient(app, base_url="https://testserver", follow_redirects=False)
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    return make_client()
