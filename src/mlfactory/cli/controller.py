"""`mlfactory controller run|tick|status|pause|resume`, `mlfactory events` and `mlfactory status`."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlfactory.cli.context import project_from
from mlfactory.cli.output import console, err_console, fmt, print_json, table
from mlfactory.entities import PRODUCTION
from mlfactory.errors import ConfigError, MLFactoryError

if TYPE_CHECKING:
    from mlfactory.control import Step

app = typer.Typer(
    help="The controller that retrains, canaries, promotes and rolls back by itself.", no_args_is_help=True
)
JSON = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]
# what `status` shows as a model's decisions: the controller's steps and alias moves, not data arriving
DECISIONS = (
    *(f"rollout.{state}" for state in ("retraining", "rejected", "failed", "gated", "shadow", "canary")),
    *(f"rollout.{state}" for state in ("promoted", "rolled_back", "idle")),
    "controller.error",
    "controller.suppressed",
    "controller.paused",
    "controller.resumed",
    "alias.set",
    "alias.rollback",
    "alias.removed",
)


def _progress(message: str) -> None:
    """The controller's long steps (monitoring, ingesting, training), as they start and end."""
    err_console.print(f"[dim]{datetime.now(UTC):%H:%M:%S}[/] {message}", highlight=False)


def _show_steps(steps: Sequence[Step], json: bool) -> None:
    if json:
        print_json(steps)
        return
    table(
        "controller pass",
        ["model", "state", "action", "why"],
        [[s.model, s.state, s.action, s.reason] for s in steps],
    )


@app.command()
def tick(ctx: typer.Context, json: JSON = False) -> None:
    """One pass over every model with a policy (for cron or CI)."""
    from mlfactory.control import Controller

    controller = Controller(project_from(ctx), progress=None if json else _progress)
    _show_steps(controller.tick(), json)
    if controller.errors:  # the pass is recorded; the exit code says it failed (8: a store is unreachable)
        first = controller.errors[0]
        raise first if isinstance(first, MLFactoryError) else MLFactoryError(f"the pass failed: {first!r}")


@app.command()
def run(
    ctx: typer.Context,
    iterations: Annotated[int | None, typer.Option(help="stop after this many passes")] = None,
) -> None:
    """Run passes forever, every `controller.interval` seconds from the project file."""
    from mlfactory.control import Controller

    project = project_from(ctx)
    stopped = _exit_on_sigterm()
    controller = Controller(project, progress=_progress, stopping=lambda: bool(stopped))
    console.print(
        f"controller {controller.owner}: a pass every {project.config.controller.interval:g} s "
        f"over {', '.join(controller.managed()) or 'no models (add a policy to one)'}; Ctrl-C stops"
    )
    controller.run(iterations=iterations, sleep=lambda seconds: _sleep_unless(stopped, seconds))
    _sleep_unless(stopped, 0.0)


def _exit_on_sigterm() -> list[int]:
    """Make SIGTERM (systemd, Kubernetes, kill) end the process like Ctrl-C: leases are given back on the
    way out, so the next controller picks the models up at once. Returns the signals received so far.

    The exit is raised wherever the signal lands. A library may turn it into an error of its own: DuckDB
    does when the signal lands in a query (such as the pass's read of the prediction log), answering
    "Query interrupted" or its own error around the exit. The controller, told the process is stopping,
    records no ``controller.error`` for that step (it is the shutdown's echo, not a failure), and
    :func:`_sleep_unless` exits right after the pass.
    """
    received: list[int] = []

    def stop(signum: int, frame: object) -> None:
        received.append(signum)
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    return received


def _sleep_unless(stopped: list[int], seconds: float) -> None:
    """Sleep between passes, or exit when a SIGTERM came during the pass."""
    if not stopped:
        time.sleep(seconds)  # a SIGTERM now exits from inside the sleep
    if stopped:
        sys.exit(128 + stopped[0])


@app.command()
def status(ctx: typer.Context, json: JSON = False) -> None:
    """The rollout state of every managed model, and its last decisions."""
    from mlfactory.control.rollout import RolloutData

    project = project_from(ctx)
    rows: list[dict[str, Any]] = []
    for name in project.managed_models():
        r = project.rollout(name)
        last = project.events(model=name, kinds=DECISIONS, limit=3)
        production = project.aliases(name).get(PRODUCTION)
        plan = RolloutData.from_json(r.data).plan
        rows.append(
            {
                "model": name,
                "state": r.state,
                "paused": r.paused,
                "challenger": r.challenger,
                "champion": production,
                "plan": plan.to_json() if plan is not None and r.state == "canary" else None,
                "updated": r.updated_at,
                "last": [{"time": e.time, "kind": e.kind, "reason": e.reason} for e in last],
            }
        )
    if json:
        print_json(rows)
        return
    table(
        "rollouts",
        ["model", "state", "paused", "champion", "challenger", "updated", "last decision"],
        [
            [
                r["model"],
                r["state"]
                + (
                    f" (~{r['plan']['labelled_canary_rows_to_catch_2x_regression']} labelled rows)"
                    if r["plan"]
                    else ""
                ),
                "yes" if r["paused"] else "",
                r["champion"],
                r["challenger"],
                fmt(r["updated"]),
                (r["last"][-1]["kind"] + ": " + r["last"][-1]["reason"]) if r["last"] else "",
            ]
            for r in rows
        ],
    )


def _set_paused(ctx: typer.Context, model: str | None, paused: bool, reason: str) -> None:
    project = project_from(ctx)
    switch = project.pause if paused else project.resume
    for event in switch(model, reason=reason):
        console.print(f"{event.model}: controller {'paused' if paused else 'resumed'}")


@app.command()
def pause(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Argument()] = None,
    reason: Annotated[str, typer.Option(help="why, for the audit log")] = "",
) -> None:
    """Stop the controller acting on one model (or all); serving is not affected."""
    _set_paused(ctx, model, True, reason)


@app.command()
def resume(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Argument()] = None,
    reason: Annotated[str, typer.Option(help="why, for the audit log")] = "",
) -> None:
    """Let the controller act on one model (or all) again."""
    _set_paused(ctx, model, False, reason)


def events(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Option(help="only this model's events")] = None,
    since: Annotated[str | None, typer.Option(help="only this recent, e.g. 1d, 6h, 30m")] = None,
    kind: Annotated[list[str] | None, typer.Option(help="only these kinds (repeatable)")] = None,
    limit: Annotated[int, typer.Option(help="at most this many, newest last")] = 200,
    json: JSON = False,
) -> None:
    """The audit log: every trigger, gate, route change, promotion and rollback, who did it and why."""
    from mlfactory.config import parse_duration

    start = None
    if since:
        try:
            start = datetime.fromtimestamp(datetime.now(UTC).timestamp() - parse_duration(since), UTC)
        except ValueError as exc:
            raise ConfigError(f"--since: {exc}") from None
    found = project_from(ctx).events(model=model, since=start, kinds=kind, limit=limit)
    if json:
        print_json(found)
        return
    table(
        "events",
        ["time", "model", "event", "actor", "reason"],
        [[fmt(e.time), e.model or "", e.kind, e.actor, e.reason] for e in found],
    )


def maturity(ctx: typer.Context, json: JSON = False) -> None:
    """The project's MLOps maturity level (0-3), the evidence, and what the next level needs."""
    from mlfactory.control import assess

    m = assess(project_from(ctx))
    if json:
        print_json(m)
        return
    console.print(f"[bold]maturity level {m.level}[/] of 3")
    for line in m.evidence:
        console.print(f"  [green]✓[/] {line}")
    for line in m.missing:
        console.print(f"  [red]✗[/] {line}")
