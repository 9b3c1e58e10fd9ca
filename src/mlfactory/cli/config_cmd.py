"""`mlfactory config show`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlfactory.cli.output import Col, Section, fits, print_json, table

app = typer.Typer(help="The effective configuration.", no_args_is_help=True)


@app.command("show")
def show(ctx: typer.Context, json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every setting, its value, and where it came from (file, env or default)."""
    from mlfactory.config import effective_settings, load_project_config

    root: Path | None = (ctx.obj or {}).get("project")
    loaded = load_project_config(root)
    rows = effective_settings(loaded)
    title = str(loaded.root / "mlfactory.yaml")
    if json:
        print_json([{"key": k, "value": v, "origin": o} for k, v, o in rows])
        return
    # keys never break; long values (URLs, descriptions) wrap
    columns: list[str | Col] = ["setting", Col("value", wrap=True), "from"]
    flat = [list(r) for r in rows]
    if fits(columns, flat):
        table(title, columns, flat)
        return
    # too narrow for whole keys beside their values: each group of keys under its shared prefix
    grouped: list[list[str] | Section] = []
    parent = ""
    for key, value, origin in rows:
        head, _, leaf = key.rpartition(".")
        if head and head != parent:
            grouped.append(Section(head))
        parent = head
        grouped.append([f"  {leaf}" if head else key, value, origin])
    table(title, columns, grouped)
