"""`mlfactory feedback FILE`: true labels for earlier request ids."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlfactory.cli.context import project_from
from mlfactory.cli.output import console, print_json
from mlfactory.errors import NotFoundError


def feedback(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV or Parquet with columns request_id and label")],
    source: Annotated[
        str | None,
        typer.Option(
            help="who produced the labels (default: you); start it with 'auto' when they came from the "
            "model's own decisions, and the controller will never retrain on them"
        ),
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="print JSON for scripts")] = False,
) -> None:
    """Attach true labels to request ids from the prediction log; unknown ids are listed (exit code 4)."""
    result = project_from(ctx).feedback(file, actor=source)
    if json:
        print_json(result.to_dict())
    else:
        console.print(f"stored {result.accepted} label(s) from {file}")
        for bad in result.invalid:
            console.print(f"  kept aside, row {bad.row} (request {bad.request_id}): {bad.reason}")
    if result.unknown:
        shown = ", ".join(result.unknown[:10]) + (" …" if len(result.unknown) > 10 else "")
        raise NotFoundError(
            f"{len(result.unknown)} request id(s) are not in the prediction log and were not stored: "
            f"{shown}. "
            "A server writes its log at most server.prediction_log.flush_interval seconds after answering"
        )
