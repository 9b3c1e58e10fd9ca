"""`mlfactory datasets list|show`."""

from __future__ import annotations

from typing import Annotated

import typer

from mlfactory.cli.context import project_from
from mlfactory.cli.output import console, fmt, print_json, table

app = typer.Typer(
    help="Dataset versions: snapshots with schema, profile and validation.", no_args_is_help=True
)
JSON = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]


@app.command("list")
def list_datasets(ctx: typer.Context, source: str | None = None, json: JSON = False) -> None:
    """Dataset versions, by source and version."""
    versions = project_from(ctx).datasets(source)
    if json:
        print_json(versions)
        return
    table(
        "datasets",
        ["id", "source", "version", "rows", "valid", "created"],
        [
            [d.id, d.source, d.version, d.n_rows, "yes" if d.valid else "NO", fmt(d.created_at)]
            for d in versions
        ],
    )


@app.command("show")
def show(
    ctx: typer.Context, ref: Annotated[str, typer.Argument(help="ID, SOURCE@N or SOURCE")], json: JSON = False
) -> None:
    """One dataset version: schema and validation report."""
    d = project_from(ctx).dataset(ref)
    if json:
        print_json(d)
        return
    console.print(
        f"[bold]{d.id}[/] source {d.source} v{d.version}, {d.n_rows} rows, sha256 {d.content_hash[:16]}"
    )
    table(
        "schema",
        ["column", "type", "nullable"],
        [[c, s.get("type"), s.get("nullable")] for c, s in d.schema.get("columns", {}).items()],
    )
    for reason in d.reasons:
        console.print(f"[red]invalid:[/] {reason}")
    for warning in d.validation.get("warnings", []):
        console.print(f"[yellow]warning:[/] {warning}")
