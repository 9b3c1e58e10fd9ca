"""`mlfactory runs list|show|compare`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mlfactory.cli.context import project_from
from mlfactory.cli.output import Col, console, fits, fmt, print_json, table

if TYPE_CHECKING:
    from mlfactory.entities import Run
    from mlfactory.project.views import SearchView

app = typer.Typer(help="Training runs: parameters, metrics, artifacts, environment.", no_args_is_help=True)
JSON = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]


@app.command("list")
def list_runs(
    ctx: typer.Context,
    where: Annotated[
        str | None, typer.Option(help='filter, e.g. "metrics.f1 > 0.9 and params.C = 1"')
    ] = None,
    name: Annotated[str | None, typer.Option(help="only runs with this name (the model name)")] = None,
    status: Annotated[str | None, typer.Option(help="running, finished or failed")] = None,
    limit: Annotated[int, typer.Option(help="at most this many, newest first")] = 50,
    archived: Annotated[
        bool, typer.Option("--archived", help="archived runs too (`mlfactory prune` hides them)")
    ] = False,
    json: JSON = False,
) -> None:
    """List runs, newest first."""
    runs = project_from(ctx).runs(where=where, name=name, status=status, limit=limit, archived=archived)
    if json:
        print_json(runs)
        return
    keys = sorted({k for r in runs for k in r.metrics if not k.startswith("slice.")})[:6]
    base = ["id", "name", "status", "started", "seconds", "dataset"]
    rows = [
        [r.id[:8], r.name, r.status.value, fmt(r.started_at), fmt(r.duration_s), r.dataset_id] for r in runs
    ]
    metrics = [[fmt(r.metrics.get(k)) for k in keys] for r in runs]
    wide = [[*row, *m] for row, m in zip(rows, metrics, strict=True)]
    if fits([*base, *keys], wide):
        table("runs", [*base, *keys], wide)
        return
    # too narrow for a column per metric: each run's metrics go on a line of their own under it
    named = [", ".join(f"{k} {v}" for k, v in zip(keys, m, strict=True) if v) for m in metrics]
    table(
        "runs",
        [*base, Col("metrics", detail=True)],
        [[*row, n] for row, n in zip(rows, named, strict=True)],
    )


@app.command("show")
def show(ctx: typer.Context, run_id: str, json: JSON = False) -> None:
    """Show one run (an id or a unique prefix of one); a run that searched its params lists its trials."""
    project = project_from(ctx)
    run = project.run(run_id)
    if json:
        print_json(run)
        return
    console.print(f"[bold]run {run.id}[/] {run.name} — {run.status.value}, {fmt(run.duration_s)} s")
    console.print(f"dataset: {run.dataset_id}   started: {fmt(run.started_at)}")
    if run.error:
        console.print(f"[red]error:[/] {run.error}")
    table("params", ["name", "value"], [[k, v] for k, v in sorted(run.params.items())])
    table("metrics (latest)", ["name", "value"], [[k, fmt(v)] for k, v in sorted(run.metrics.items())])
    table("artifacts", ["name", "sha256"], [[k, v] for k, v in sorted(run.artifacts.items())])
    table("tags", ["name", "value"], [[k, v] for k, v in sorted(run.tags.items())])
    search = project.search(run)
    if search is not None:
        _trials(run, search)
    env = run.environment
    console.print(
        f"python {env.get('python')}, git {env.get('git_commit') or '-'}, "
        f"project file {str(env.get('project_file_sha256'))[:12]}, host {env.get('host') or '-'} "
        f"pid {env.get('pid') or '-'}"
    )


def _trials(run: Run, search: SearchView) -> None:
    """The search's trials (nested runs, tag ``parent_run``) by number: state, mean and fold scores, params,
    a failed trial's error; then the winner."""
    metric, best = search.metric, search.best
    errors = any(t.run.error for t in search.trials)
    rows, winner = [], ""
    for t in search.trials:
        params = ", ".join(f"{k}={'null' if v is None else fmt(v)}" for k, v in sorted(t.run.params.items()))
        winner = params if t.number == best else winner
        folds = " ".join(f"{v:.3f}" for v in t.folds)
        number = f"* {t.number}" if t.number == best else str(t.number)
        rows.append([number, t.state, fmt(t.score), folds, params, *([t.run.error] if errors else [])])
    columns: list[str | Col] = ["trial", "state", metric, "folds", Col("params", wrap=True)]
    columns += [Col("error", detail=True)] if errors else []
    table(f"trials ({metric}: mean of the folds run; * the winner)", columns, rows)
    if search.has_more:
        console.print(f"only the first {len(search.trials)} trials are shown")
    if best is not None:
        console.print(
            f"winner: trial {best}, {metric} {fmt(run.metrics.get(f'search.best.{metric}'))}: {winner}"
        )


@app.command("compare")
def compare(ctx: typer.Context, run_ids: list[str], json: JSON = False) -> None:
    """Compare runs side by side: every parameter and metric, differing rows marked."""
    runs, rows = project_from(ctx).compare_runs(run_ids)
    if json:
        print_json(rows)
        return
    out = []
    for key, per in rows.items():
        values = [per.get(r.id) for r in runs]
        differs = len({repr(v) for v in values}) > 1
        out.append([("* " if differs else "  ") + key, *[fmt(v) for v in values]])
    # long values (an estimator's class path) wrap, so three or four runs still fit side by side at 80 columns
    table("comparison (* differs)", ["", *[Col(r.id[:8], wrap=True, detail=False) for r in runs]], out)
