"""`mlfactory verify`: every artifact's hash and every reference between the stores, checked."""

from __future__ import annotations

from typing import Annotated

import typer

from mlfactory.cli.context import project_from
from mlfactory.cli.output import Col, console, print_json, table
from mlfactory.errors import IntegrityError


def verify(
    ctx: typer.Context, json: Annotated[bool, typer.Option("--json", help="print JSON for scripts")] = False
) -> None:
    """Re-hash every stored artifact, check every alias, route and rollout, list leftover temporary files;
    exit 7 when anything is wrong."""
    report = project_from(ctx).verify()
    if json:
        print_json(report.to_dict())
    else:
        checked = ", ".join(f"{n} {what}" for what, n in report.checked.items())
        console.print(f"checked {checked}")
        if report.findings:
            table(
                "findings",
                ["kind", "where", Col("what to know", wrap=True)],
                [[f.kind, f.subject, f.detail] for f in report.findings],
            )
    if not report.ok:
        raise IntegrityError(
            f"verify found {len(report.findings)} problem(s); see the list above (or --json)"
        )
