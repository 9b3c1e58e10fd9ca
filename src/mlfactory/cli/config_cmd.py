"""`mlfactory config show`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlfactory.cli.output import Col, print_json, table

app = typer.Typer(help="The effective configuration.", no_args_is_help=True)


@app.command("show")
def show(ctx: typer.Context, json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every setting, its value, and where it came from (file, env or default)."""
    from mlfactory.config import effective_settings, load_project_config

    root: Path | None = (ctx.obj or {}).get("project")
    loaded = load_project_config(root)
    rows = effective_settings(loaded)
    if json:
        print_json([{"key": k, "value": v, "origin": o} for k, v, o in rows])
        return
    table(
        f"{loaded.root / 'mlfactory.yaml'}",
        ["setting", Col("value", wrap=True), "from"],  # long values (URLs, descriptions) wrap; keys never do
        [list(r) for r in rows],
    )
