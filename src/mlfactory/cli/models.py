"""`mlfactory models list|show|history|promote|rollback`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import typer

from mlfactory.cli.context import project_from
from mlfactory.cli.output import Col, console, fmt, print_json, table
from mlfactory.entities import PRODUCTION

app = typer.Typer(help="Registered model versions and their aliases.", no_args_is_help=True)
JSON = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]
ALIAS = Annotated[str, typer.Option("--alias", help="the alias to move")]


@dataclass(frozen=True)
class _Summary:
    """One line of `models list` (and one object of its ``--json``)."""

    name: str
    versions: int
    latest: int
    aliases: dict[str, int]


@app.command("list")
def list_models(ctx: typer.Context, json: JSON = False) -> None:
    """Every model with its versions and aliases."""
    project = project_from(ctx)
    rows: list[_Summary] = []
    for name in project.model_names():
        versions = project.versions(name, archived=True)  # every registered one, as "latest" says
        rows.append(_Summary(name, len(versions), versions[-1].version, project.aliases(name)))
    if json:
        print_json(rows)
        return
    table(
        "models",
        ["name", "versions", "latest", "aliases"],
        [
            [r.name, r.versions, r.latest, ", ".join(f"{a}→v{v}" for a, v in sorted(r.aliases.items()))]
            for r in rows
        ],
    )


@app.command("show")
def show(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME (all versions), NAME/VERSION or NAME@ALIAS")],
    card: Annotated[bool, typer.Option("--card", help="print the model card")] = False,
    archived: Annotated[
        bool, typer.Option("--archived", help="archived versions too (`mlfactory prune` hides them)")
    ] = False,
    json: JSON = False,
) -> None:
    """Show a model's versions, or one version in detail."""
    project = project_from(ctx)
    if "/" not in ref and ":" not in ref and "@" not in ref:
        versions = project.versions(ref, archived=archived)
        if json:
            print_json([v.to_json() for v in versions])
            return
        table(
            f"model {ref}",
            ["version", "status", "created", "aliases", "run", "metrics"],
            [
                [
                    v.version,
                    v.status.value,
                    fmt(v.created_at),
                    ", ".join(v.aliases),
                    (v.run_id or "")[:8],
                    ", ".join(f"{k} {fmt(m)}" for k, m in v.metrics.items() if isinstance(m, float)),
                ]
                for v in versions
            ],
        )
        return
    mv = project.version(ref)
    if json:
        print_json(mv.to_json())
        return
    if card:
        console.print(mv.card, markup=False)
        return
    console.print(f"[bold]{mv.ref}[/] {mv.status.value}  aliases: {', '.join(mv.aliases) or '-'}")
    console.print(f"run {mv.run_id}  dataset {mv.lineage.dataset}  artifact {mv.artifact[:12]}")
    table("inputs", ["column", "type"], [[c.name, c.type] for c in mv.signature.inputs])
    table(
        "metrics", ["metric", "value"], [[k, fmt(v)] for k, v in mv.metrics.items() if isinstance(v, float)]
    )
    table(
        "gates",
        ["rule", "result", "detail"],
        [[g.rule, "pass" if g.passed else "FAIL", g.detail] for g in mv.gates],
    )


@app.command("history")
def history(ctx: typer.Context, name: str, json: JSON = False) -> None:
    """Every registration and alias move of a model: who, when, from, to and why."""
    events = project_from(ctx).history(name)
    if json:
        print_json(events)
        return
    table(
        f"history of {name}",
        ["time", "event", "actor", "change", Col("reason", detail=True)],
        [[fmt(e.time), e.kind, e.actor, _change(e.payload), e.reason] for e in events],
    )


def _change(payload: dict[str, Any]) -> str:
    """What an event moved, in a few characters: ``v3`` (registered), ``production v1→v2`` (an alias)."""

    def v(x: Any) -> str:
        return "none" if x in (None, "") else f"v{x}"

    alias, frm, to = payload.get("alias"), payload.get("from"), payload.get("to", payload.get("version"))
    if not alias:
        return "" if to in (None, "") else v(to)
    return f"{alias} →{v(to)}" if frm in (None, "") else f"{alias} {v(frm)}→{v(to)}"


@app.command("promote")
def promote(
    ctx: typer.Context,
    name: str,
    version: int,
    alias: ALIAS = PRODUCTION,
    reason: Annotated[str, typer.Option(help="why, for the audit log")] = "",
    force: Annotated[bool, typer.Option("--force", help="let a rejected version take production")] = False,
) -> None:
    """Point an alias at a version."""
    event = project_from(ctx).promote(name, version, alias=alias, reason=reason, force=force)
    forced = " (forced)" if event.payload.get("forced") else ""
    console.print(f"{name}@{alias}: v{event.payload['from'] or '-'} → v{event.payload['to']}{forced}")


@app.command("rollback")
def rollback(
    ctx: typer.Context,
    name: str,
    alias: ALIAS = PRODUCTION,
    reason: Annotated[str, typer.Option(help="why, for the audit log")] = "",
) -> None:
    """Move an alias back to the version it held before, in one step."""
    event = project_from(ctx).rollback(name, alias=alias, reason=reason)
    console.print(f"{name}@{alias}: v{event.payload['from']} → v{event.payload['to']} (rolled back)")
