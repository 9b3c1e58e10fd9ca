"""`mlfactory serve` mounts the dashboard at /ui over its own project and settings; server.ui: false turns it
off, and the server's token guards it as it guards the admin API."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from mlfactory.config import PredictionLogConfig, ServerConfig
from mlfactory.project import Project
from mlfactory.server.app import create_app
from mlfactory.server.settings import ServerSettings


def _server(project: Project, **settings: object) -> TestClient:
    cfg = ServerConfig(prediction_log=PredictionLogConfig(enabled=False), **settings)  # type: ignore[arg-type]
    app = create_app(ServerSettings(project=project.root, env={}, server=cfg))
    return TestClient(app, base_url="https://testserver", follow_redirects=False)


@pytest.mark.parametrize("url", ["/ui/", "/ui/runs", "/ui/models/spam", "/ui/deployments", "/ui/events"])
def test_serve_mounts_the_dashboard(project: Project, url: str) -> None:
    with _server(project) as client:
        page = client.get(url)
        assert page.status_code == 200
        assert 'href="/ui/static/style.css"' in page.text and 'href="/ui/runs"' in page.text


def test_a_serving_only_replica_has_no_dashboard(project: Project) -> None:
    with _server(project, ui=False) as client:
        assert client.get("/ui/").status_code == 404
        assert client.get("/ui/static/plotly.min.js").status_code == 404
        assert client.get("/v1/models").status_code == 200


def test_the_servers_token_guards_the_mounted_dashboard(project: Project) -> None:
    with _server(project, token="s3cret") as client:
        page = client.get("/ui/runs?limit=5", headers={"accept": "text/html"})
        assert (
            page.status_code == 303 and page.headers["location"] == "/ui/login?next=%2Fui%2Fruns%3Flimit%3D5"
        )
        assert client.get("/ui/runs", headers={"authorization": "Bearer s3cret"}).status_code == 200
