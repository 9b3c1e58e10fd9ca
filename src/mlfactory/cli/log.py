"""`mlfactory log compact|prune`: upkeep of the prediction log (safe while servers write to it)."""

from __future__ import annotations

from typing import Annotated

import typer

from mlfactory.cli.context import project_from
from mlfactory.cli.output import console, print_json

app = typer.Typer(help="The prediction log: compaction and retention.", no_args_is_help=True)


@app.command()
def compact(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Option(help="only this model (default: every model)")] = None,
    older_than: Annotated[
        str, typer.Option("--older-than", help="leave segments younger than this, e.g. 1h (default: none)")
    ] = "0s",
    json: Annotated[bool, typer.Option("--json", help="print JSON for scripts")] = False,
) -> None:
    """Merge each model's small segments of a day into one file; files merged earlier are removed after a
    grace period, so servers and monitoring can keep running."""
    result = project_from(ctx).compact_log(model, older_than)
    if json:
        print_json(result)
        return
    for r in result.rollups:
        console.print(f"{r.model} {r.day}: {r.inputs} files merged into {r.name} ({r.rows} rows)")
    if not result.rollups:
        console.print("nothing to merge")
    console.print(f"{result.removed} merged files removed")


@app.command()
def prune(ctx: typer.Context, json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Remove the days older than server.prediction_log.retention."""
    result = project_from(ctx).prune_log()
    if json:
        print_json(result)
        return
    for model, day in result.days:
        console.print(f"{model} {day}: removed")
    console.print(f"{len(result.days)} days removed ({result.files} files)")
