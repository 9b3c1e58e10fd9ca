"""`mlfactory prune`: archive dead experiments (runs never registered, versions never or long not served),
or bring archived ones back."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from mlfactory.cli.context import project_from
from mlfactory.cli.output import Col, console, print_json, table
from mlfactory.errors import ConfigError

if TYPE_CHECKING:
    from mlfactory.audit.dead import Unused
    from mlfactory.project.prune import PruneItem, PruneResult, RestoreResult

FIRST_IDS = 3  # ids shown per group; --json lists every one


def _older_than(text: str) -> timedelta:
    from mlfactory.config import parse_duration

    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise ConfigError(f"--older-than: {exc}") from None
    if seconds <= 0:
        raise ConfigError(f"--older-than must be a positive duration such as 30d, not '{text}'")
    return timedelta(seconds=seconds)


def _groups(items: tuple[PruneItem, ...]) -> list[list[str]]:
    """One row per check, model and kind: how many, the first ids, and why (the first item's reason)."""
    grouped: dict[tuple[str, str, str], list[PruneItem]] = {}
    for item in items:
        grouped.setdefault((item.check, item.model or "", item.kind), []).append(item)
    rows: list[list[str]] = []
    for (check, model, kind), group in sorted(grouped.items()):
        refs = [i.ref[:8] if kind == "run" else i.ref for i in group]
        more = f" (+{len(refs) - FIRST_IDS})" if len(refs) > FIRST_IDS else ""
        rows.append(
            [check, model, f"{kind}s", str(len(group)), ", ".join(refs[:FIRST_IDS]) + more, group[0].reason]
        )
    return rows


def _show(result: PruneResult, unused: tuple[Unused, ...]) -> None:
    verb = "would archive" if result.dry_run else "archived"
    runs = sum(1 for i in result.items if i.kind == "run")
    console.print(f"[bold]{verb}[/] {len(result.items) - runs} versions and {runs} runs")
    if result.items:
        columns: list[str | Col] = ["check", "model", "what", "count", "ids", Col("why", wrap=True)]
        table(f"{verb}", columns, _groups(result.items))
    if unused:
        table(
            "also used by nothing (remove from the project by hand)",
            ["check", "name", Col("why", wrap=True)],
            [[u.check, u.name, u.reason] for u in unused],
        )
    if result.dry_run and result.items:
        console.print("run `mlfactory prune` without --dry-run to archive them")
    elif result.items:
        console.print("bring one back with `mlfactory prune --restore NAME/VERSION` or `--restore RUN_ID`")


def _show_restored(result: RestoreResult) -> None:
    rows = [["version", v] for v in result.versions] + [["run", r] for r in result.runs]
    if rows:
        table("restored", ["what", "ref"], rows)
    else:
        console.print("nothing to restore: none of them is archived")


def prune(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="only say what would be archived")] = False,
    older_than: Annotated[str, typer.Option(help="dead for at least this long: 30d, 2w, 12h, …")] = "30d",
    restore: Annotated[
        list[str] | None,
        typer.Option(help="bring back an archived NAME/VERSION or RUN_ID instead (repeat for several)"),
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="print JSON for scripts")] = False,
) -> None:
    """Archive dead experiments: runs that ended without a version, versions never served or not served for
    long (never anything a live version's lineage needs). Archived things keep every record, leave the
    listings (`runs list --archived` shows them) and can be restored."""
    from mlfactory.audit.dead import find_dead, project_scope

    project = project_from(ctx)
    if restore:
        restored = project.restore(restore)
        if json:
            print_json(restored)
        else:
            _show_restored(restored)
        return
    dead = find_dead(project, project_scope(project), older_than=_older_than(older_than))
    result = project.prune(dead.plan(), dry_run=dry_run)
    if json:
        print_json({"dry_run": result.dry_run, "items": result.items, "unused": dead.unused})
    else:
        _show(result, dead.unused)
