"""`mlfactory tokens create|list|revoke`: named API tokens with a role, for people and services."""

from __future__ import annotations

from typing import Annotated

import typer

from mlfactory.cli.context import project_from
from mlfactory.cli.output import console, fmt, print_json, table

app = typer.Typer(help="API tokens: one per person or service, each with a role.", no_args_is_help=True)


@app.command()
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="who or what uses it, e.g. ana or scoring-service")],
    role: Annotated[str, typer.Option(help="viewer | predictor | operator | admin")] = "predictor",
) -> None:
    """Create a token; its secret is printed once and never stored."""
    secret = project_from(ctx).create_token(name, role)
    console.print(f"token '{name}' ({role}) created; send it as 'Authorization: Bearer <token>'")
    console.print(secret, highlight=False, soft_wrap=True)
    console.print("[dim]it is shown only now: keep it in your secret store[/]")


@app.command("list")
def list_(ctx: typer.Context, json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every token, active or revoked (names and roles only)."""
    found = project_from(ctx).tokens()
    if json:
        print_json(found)
        return
    table(
        "tokens",
        ["name", "role", "created", "by", "revoked"],
        [[t.name, t.role.value, fmt(t.created_at), t.created_by, fmt(t.revoked_at)] for t in found],
    )


@app.command()
def revoke(
    ctx: typer.Context,
    name: str,
    reason: Annotated[str, typer.Option(help="why, for the audit log")] = "",
) -> None:
    """Revoke a token; servers refuse it within their reload interval."""
    project_from(ctx).revoke_token(name, reason=reason)
    console.print(f"token '{name}' revoked")
