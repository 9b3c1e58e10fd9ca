"""`mlfactory deploy canary|shadow|ab|status|clear`: routing policies, every change an event."""

from __future__ import annotations

from typing import Annotated

import typer

from mlfactory.cli.context import project_from
from mlfactory.cli.output import console, print_json, table
from mlfactory.errors import ConfigError

app = typer.Typer(help="Route live traffic: canary, A/B split, shadow.", no_args_is_help=True)
REASON = Annotated[str, typer.Option(help="why, for the audit log")]
FORCE = Annotated[bool, typer.Option("--force", help="let a rejected version take traffic (recorded)")]


def _done(ctx: typer.Context, name: str) -> None:
    s = project_from(ctx).routing(name)
    shares = ", ".join(f"{v} {p:g}%" for v, p in s["traffic_percent"].items()) or "no traffic"
    shadow = f"; shadow v{s['shadow']}" if s["shadow"] is not None else ""
    console.print(f"{name}: {shares}{shadow} (servers pick it up within their reload interval)")


@app.command("canary")
def canary(
    ctx: typer.Context,
    name: str,
    version: int,
    weight: Annotated[float, typer.Option(help="percent of rows for VERSION, in (0, 100]")] = 10.0,
    key: Annotated[str | None, typer.Option(help="request field that keeps a user on one side")] = None,
    reason: REASON = "",
    force: FORCE = False,
) -> None:
    """Send WEIGHT percent of NAME's rows to VERSION; the rest stay on production."""
    project_from(ctx).deploy_canary(name, version, weight=weight, key=key, reason=reason, force=force)
    _done(ctx, name)


@app.command("shadow")
def shadow(
    ctx: typer.Context,
    name: str,
    version: Annotated[int | None, typer.Argument(help="the version that gets a copy of the traffic")] = None,
    off: Annotated[bool, typer.Option("--off", help="stop the shadow")] = False,
    reason: REASON = "",
) -> None:
    """Give VERSION a copy of NAME's traffic; its answers are logged, never returned."""
    if (version is None) == (not off):
        raise ConfigError("give a VERSION, or --off to stop the shadow")
    project_from(ctx).deploy_shadow(name, None if off else version, reason=reason)
    _done(ctx, name)


@app.command("ab")
def ab(
    ctx: typer.Context,
    name: str,
    variants: Annotated[str, typer.Option(help="VERSION:WEIGHT,… summing to 100, e.g. 6:50,7:50")],
    key: Annotated[str, typer.Option(help="request field that keeps each user on one variant, e.g. user_id")],
    reason: REASON = "",
    force: FORCE = False,
) -> None:
    """Split all of NAME's traffic between versions, sticky by a request field."""
    project_from(ctx).deploy_ab(name, variants, key=key, reason=reason, force=force)
    _done(ctx, name)


@app.command("status")
def status(
    ctx: typer.Context,
    name: str,
    json: Annotated[bool, typer.Option("--json", help="print JSON for scripts")] = False,
) -> None:
    """NAME's aliases, routing policy and the share of traffic each version gets."""
    s = project_from(ctx).routing(name)
    if json:
        print_json(s)
        return
    rows = [[v, f"{p:g}%"] for v, p in s["traffic_percent"].items()]
    if s["shadow"] is not None:
        rows.append([f"v{s['shadow']}", "shadow (copy)"])
    table(f"routing of {name}", ["version", "traffic"], rows)
    aliases = ", ".join(f"{a}→v{v}" for a, v in sorted(s["aliases"].items())) or "none"
    console.print(f"aliases: {aliases}" + (f"; key: {s['policy']['key']}" if s["policy"]["key"] else ""))


@app.command("clear")
def clear(ctx: typer.Context, name: str, reason: REASON = "") -> None:
    """Remove canary, A/B split and shadow: production takes all traffic."""
    project_from(ctx).deploy_clear(name, reason=reason)
    _done(ctx, name)
