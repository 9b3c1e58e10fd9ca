"""The admin, monitoring and feedback routers over a fake Project: no model, no stores but a memory one.

The app holds what ``create_app``'s lifespan would put on ``app.state``, with the error mapping of the real
app, so a route's status codes and bodies are the served ones; the Project is an autospec'd mock, so a route
calling a method the Project does not have, or with arguments its signature refuses, fails the test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from unittest.mock import MagicMock, create_autospec

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mlfactory.config import ServerConfig
from mlfactory.project import Project
from mlfactory.server.app import _install_error_handlers
from mlfactory.server.auth import TokenCache
from mlfactory.server.routers import admin, feedback, monitoring
from mlfactory.stores import open_metadata_store


@dataclass
class FakeRuntime:
    """The serving runtime as the admin routes see it: refreshed after a change, asked for its status."""

    routes: dict[str, Any] = field(default_factory=dict)
    refreshes: int = 0

    def refresh(self) -> dict[str, Any]:
        self.refreshes += 1
        return {"models": sorted(self.routes)}

    def status(self) -> dict[str, Any]:
        return {"models": self.routes}


@dataclass
class FakeLog:
    """The server's prediction log: the routes flush it before reading."""

    flushed: int = 0

    def flush(self) -> int:
        self.flushed += 1
        return 3


@dataclass
class Served:
    client: TestClient
    project: MagicMock
    runtime: FakeRuntime
    log: FakeLog | None


def serve(*, token: str | None = None, log: bool = True) -> Iterator[Served]:
    app = FastAPI()
    _install_error_handlers(app)
    for router in (admin.router, monitoring.router, feedback.router):
        app.include_router(router)
    project = create_autospec(Project, instance=True)
    runtime = FakeRuntime()
    plog = FakeLog() if log else None
    cfg = ServerConfig(token=token)
    app.state.project = project
    app.state.runtime = runtime
    app.state.prediction_log = plog
    app.state.server_config = cfg
    app.state.actor = "server"
    store = open_metadata_store(f"memory://routers-{uuid.uuid4().hex}")
    app.state.tokens = TokenCache(store, cfg.token, cfg.reload_interval)
    with TestClient(app) as client:
        yield Served(client, project, runtime, plog)
    store.close()


@pytest.fixture
def served() -> Iterator[Served]:
    yield from serve()


@pytest.fixture
def served_with_token() -> Iterator[Served]:
    yield from serve(token="s3cret-token")


@pytest.fixture
def served_without_log() -> Iterator[Served]:
    yield from serve(log=False)
