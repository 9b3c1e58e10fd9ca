"""`mlfactory quickstart`: the whole story on generated data, from an empty folder to a production model."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from mlfactory.entities import PRODUCTION, DatasetVersion
from mlfactory.project import Project, open_project
from mlfactory.quickstart.audit_view import show_audit
from mlfactory.quickstart.drift_view import show_drift
from mlfactory.quickstart.scaffold import init_project
from mlfactory.quickstart.story import Story

if TYPE_CHECKING:
    from mlfactory.project.train import TrainResult


def run_quickstart(directory: Path, *, seed: int = 7, console: Console | None = None) -> dict[str, object]:
    """Create the example project in ``directory`` and run ingest → validate → train → gate → register →
    promote. Returns what it made."""
    console = console or Console()
    started = time.perf_counter()
    directory = Path(directory)
    console.rule("[bold]mlfactory quickstart: a spam filter")
    with console.status("writing the example project…"):
        init_project(directory, force=True, seed=seed)
    console.print(f"[green]✓[/] project written to {directory.resolve()} (generated emails, see README.md)")
    with open_project(directory, env={}, actor="quickstart") as project:
        ds, result = _first_model(console, project)
    mv = result.version
    if not result.passed:
        return {"dataset": ds.id, "run": result.run_id, "version": mv.ref}
    console.rule("[bold]the factory runs itself: serving, feedback, drift, retraining, canaries")
    story = Story(directory.resolve(), seed, console.print).run()
    with open_project(directory, env={}, actor="quickstart") as project:
        print_timeline(console, project)
        report_path = show_drift(console, project)
        score = show_audit(console, project)
    elapsed = time.perf_counter() - started
    console.rule(f"done in {elapsed:.1f} s")
    console.print(
        "What was made:\n"
        f"  project file   {directory / 'mlfactory.yaml'}\n"
        f"  dataset        {ds.id}, run {result.run_id[:8]}, first model {mv.ref}\n"
        f"  production     {story['production']} (after the controller's retraining and rollback)\n"
        f"  metadata       {directory / '.mlfactory' / 'mlfactory.db'}\n"
        "Try next:\n"
        f"  cd {directory}\n"
        "  mlfactory ui      # the dashboard: open http://127.0.0.1:8080/ in a browser\n"
        "  mlfactory runs list\n"
        "  mlfactory models show spam@production --card\n"
        "  mlfactory models history spam\n"
        "  mlfactory monitor history spam\n"
        "  mlfactory monitor report spam --html report.html\n"
        "  mlfactory audit --html audit.html   # every finding, its evidence and fix\n"
        f"  open {report_path}\n"
        "  mlfactory features list\n"
        "  mlfactory features get domain_activity --key sender_domain=mail.example.com\n"
        "  mlfactory predict --model spam@production --input data/emails.csv --output scored.parquet\n"
    )
    return {
        "dataset": ds.id,
        "run": result.run_id,
        "version": mv.ref,
        "production": story["production"],
        "audit_score": score,
        "seconds": elapsed,
    }


def _first_model(console: Console, project: Project) -> tuple[DatasetVersion, TrainResult]:
    """Ingest, materialize the features, train and gate the first model; promote it when it passed."""
    with console.status("ingesting and validating emails…"):
        ds = project.ingest("emails").dataset
    console.print(
        f"[green]✓[/] ingested {ds.n_rows} emails → dataset {ds.id} (v{ds.version}), "
        f"validation {'passed' if ds.valid else 'FAILED'}"
    )
    with console.status("computing sender-domain features into the online store…"):
        materialized = project.features.materialize(actor="quickstart")
    for m in materialized:
        console.print(
            f"[green]✓[/] feature view {m.view}: {m.rows_read} rows → latest values of "
            f"{m.entities_written} sender domains in the online store"
        )
    with console.status("training, evaluating and gating the spam model…"):
        result = project.train("spam")
    mv = result.version
    metrics = Table(title=f"{mv.ref} on the newest 20% of emails", title_justify="left")
    metrics.add_column("metric")
    metrics.add_column("value", justify="right")
    for key in ("accuracy", "precision", "recall", "f1", "roc_auc"):
        metrics.add_row(key, f"{result.metrics[key]:.3f}")
    console.print(metrics)
    for gate in result.gates:
        mark = "[green]✓[/]" if gate.passed else "[red]✗[/]"
        console.print(f"{mark} gate {gate.rule}: {gate.detail}")
    if result.passed:
        project.promote(
            "spam", mv.version, alias=PRODUCTION, reason="quickstart: first model passed its gates"
        )
        console.print(f"[green]✓[/] {mv.ref} is now spam@{PRODUCTION}")
    else:
        console.print(f"[red]✗[/] {mv.ref} failed a gate and was registered as rejected")
    return ds, result


TIMELINE_KINDS = (
    "model.registered",
    "alias.set",
    "alias.rollback",
    "routing.set",
    "routing.cleared",
    "controller.suppressed",
    "controller.error",
)


def print_timeline(console: Console, project: Project) -> None:
    """The audit log of the story: what the controller and the people did, and why."""
    events = [
        e for e in project.events(model="spam") if e.kind.startswith("rollout.") or e.kind in TIMELINE_KINDS
    ]
    if not events:
        return
    t0 = events[0].time
    table = Table(title="timeline (mlfactory events --model spam)", title_justify="left")
    for col in ("t+s", "event", "by", "why"):
        table.add_column(col, overflow="fold")
    for e in events:
        table.add_row(f"{(e.time - t0).total_seconds():6.1f}", e.kind, e.actor.split(":")[0], e.reason[:140])
    console.print(table)
