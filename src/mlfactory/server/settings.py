"""What a server process needs to start: the project, overrides, and its server settings."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlfactory.config import ServerConfig

SETTINGS_ENV = "MLFACTORY_SERVE_SETTINGS"


@dataclass(frozen=True)
class ServerSettings:
    """Built once at the edge (CLI, tests, quickstart) and handed to :func:`mlfactory.server.create_app`.

    Args:
        project: the project folder.
        env: ``MLFACTORY_*`` overrides for the project file (None: the process environment).
        server: server settings replacing the project file's ``server`` section (None: use the file's).
        actor: who the server's own events are recorded as.
        routing_seed: seeds random canary assignment (tests).
    """

    project: Path
    env: Mapping[str, str] | None = None
    server: ServerConfig | None = None
    actor: str = "server"
    routing_seed: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """For handing the settings to worker processes (``--workers N``)."""
        return json.dumps(
            {
                "project": str(Path(self.project).resolve()),
                "env": dict(self.env) if self.env is not None else None,
                "server": self.server.model_dump(mode="json") if self.server else None,
                "actor": self.actor,
                "routing_seed": self.routing_seed,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> ServerSettings:
        data = json.loads(text)
        return cls(
            project=Path(data["project"]),
            env=data.get("env"),
            server=ServerConfig.model_validate(data["server"]) if data.get("server") else None,
            actor=data.get("actor", "server"),
            routing_seed=data.get("routing_seed"),
        )
