"""`mlfactory serve`: one HTTP server for every model of the project that has an alias."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from mlfactory.cli.output import err_console


def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option(help="address to bind (default: server.host, 127.0.0.1)")
    ] = None,
    port: Annotated[int | None, typer.Option(help="port (default: server.port, 8000)")] = None,
    workers: Annotated[int, typer.Option(min=1, help="worker processes; each is a stateless replica")] = 1,
    access_log: Annotated[bool, typer.Option("--access-log", help="log every request (slower)")] = False,
) -> None:
    """Serve every model with a production alias or routing policy: native, V2 and MLflow endpoints."""
    import uvicorn

    from mlfactory.config import load_project_config
    from mlfactory.server.app import create_app
    from mlfactory.server.metrics import MULTIPROC_ENV
    from mlfactory.server.run import uvicorn_options
    from mlfactory.server.settings import SETTINGS_ENV, ServerSettings

    root: Path | None = (ctx.obj or {}).get("project")
    loaded = load_project_config(root)
    cfg = loaded.config.server
    cfg = cfg.model_copy(update={"host": host or cfg.host, "port": port or cfg.port})
    if cfg.host not in ("127.0.0.1", "localhost", "::1") and not cfg.token:
        err_console.print(
            f"[yellow]warning:[/] serving on {cfg.host} without server.token: the admin API "
            "(deploy, reload, feedback) is open to anyone who can reach it"
        )
    settings = ServerSettings(project=loaded.root, server=cfg)
    opts = uvicorn_options(access_log)
    if workers == 1:
        uvicorn.run(create_app(settings), host=cfg.host, port=cfg.port, **opts)
        return
    os.environ[SETTINGS_ENV] = settings.to_json()
    with tempfile.TemporaryDirectory(prefix="mlfactory-metrics-") as shared:
        # each worker keeps its counters in this folder, and any worker's /metrics sums them all
        os.environ.setdefault(MULTIPROC_ENV, shared)
        uvicorn.run(
            "mlfactory.server.app:app_from_environment",
            factory=True,
            host=cfg.host,
            port=cfg.port,
            workers=workers,
            **opts,
        )
