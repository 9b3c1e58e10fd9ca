"""`mlfactory storage cleanup`: incomplete multipart uploads under the project's bucket prefixes."""

from __future__ import annotations

from typing import Annotated

import typer

from mlfactory.cli.context import project_from
from mlfactory.cli.output import console, fmt, print_json, table

app = typer.Typer(help="The project's object storage: upkeep.", no_args_is_help=True)


@app.command()
def cleanup(
    ctx: typer.Context,
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            help="only uploads started longer ago than this, e.g. 6h (younger ones may be under way)",
        ),
    ] = "1d",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list them, abort nothing")] = False,
    json: Annotated[bool, typer.Option("--json", help="print JSON for scripts")] = False,
) -> None:
    """Abort incomplete multipart uploads left under the artifact store, the dataset scratch space and the
    prediction log by writers that were killed mid-upload: stored and billed, but never visible."""
    result = project_from(ctx).cleanup_uploads(older_than, dry_run=dry_run)
    if json:
        print_json(result)
        return
    if not result.checked:
        console.print("the project keeps nothing on object storage: no uploads to clean up")
        return
    console.print(f"checked {', '.join(result.checked)}")
    if result.stale:
        table(
            "incomplete uploads" + (" (dry run: not aborted)" if dry_run else " (aborted)"),
            ["store", "object", "started", "upload id"],
            [[u.store, u.url, fmt(u.started), u.upload_id[:16]] for u in result.stale],
        )
    verb = "would abort" if dry_run else "aborted"
    console.print(
        f"{verb} {len(result.stale)} upload(s) older than {older_than}; "
        f"{result.recent} younger one(s) left alone (they may still be under way)"
    )
