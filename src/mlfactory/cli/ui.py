"""`mlfactory ui`: the dashboard alone, over the project's stores (what `mlfactory serve` mounts at /ui)."""

from __future__ import annotations

from typing import Annotated

import typer

from mlfactory.cli.context import project_from
from mlfactory.cli.output import console, err_console

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def ui(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option(help="address to bind; anything but loopback opens it to the network")
    ] = ("127.0.0.1"),
    port: Annotated[int, typer.Option(min=1, max=65535, help="port")] = 8080,
) -> None:
    """Open the dashboard in a browser: what is live, runs, models, deployments and events.

    It shows everything and changes nothing unless tokens are configured (`server.token`, or `mlfactory
    tokens create`): then it asks for one, and pausing or resuming the controller needs an operator's.
    """
    import uvicorn

    from mlfactory.dashboard import create_dashboard
    from mlfactory.server.run import uvicorn_options

    project = project_from(ctx)  # opened here, so a missing project is a clear error before the port opens
    app = create_dashboard(lambda: project)
    if host not in LOOPBACK:
        err_console.print(
            f"[yellow]warning:[/] the dashboard listens on {host}: anyone who can reach it sees the project "
            "unless tokens are configured (server.token, or `mlfactory tokens create`)"
        )
    shown = f"[{host}]" if ":" in host else host
    console.print(f"dashboard on http://{shown}:{port}/ (Ctrl-C stops)")
    uvicorn.run(app, host=host, port=port, **uvicorn_options(False))
