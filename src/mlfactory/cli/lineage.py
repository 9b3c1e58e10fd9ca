"""`mlfactory lineage NAME/VERSION` and `mlfactory lineage --request ID`: a version's lineage up and down, or
one logged prediction traced."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlfactory.cli.context import project_from
from mlfactory.cli.output import Col, console, fmt, print_json, table
from mlfactory.errors import ConfigError

if TYPE_CHECKING:  # the project package is heavy: only commands that open a project pay for it
    from mlfactory.project.lineage_records import (
        Downstream,
        RequestLineage,
        RunUsed,
        Upstream,
        VersionLineage,
    )

JSON = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]


def lineage(
    ctx: typer.Context,
    ref: Annotated[
        str | None, typer.Argument(help="NAME/VERSION, NAME@ALIAS or NAME (its production version)")
    ] = None,
    request: Annotated[
        str | None,
        typer.Option("--request", help="a request id from a predict answer: trace that one prediction"),
    ] = None,
    json: JSON = False,
) -> None:
    """Where a model version came from and where it went, or how one logged prediction was made."""
    if (ref is None) == (request is None):
        raise ConfigError(
            "name a version (`mlfactory lineage spam/3`) or a request (`mlfactory lineage --request ID`), "
            "not both and not neither"
        )
    project = project_from(ctx)
    if ref is None:
        traced = project.request_lineage(str(request))
        if json:
            print_json(traced)
        else:
            _print_request(traced)
        return
    version = project.version_lineage(ref)
    if json:
        print_json(version)
    else:
        _print_version(version)


def _print_version(found: VersionLineage) -> None:
    v = found.version
    console.print(f"[bold]{v.ref}[/] {v.status}, registered {fmt(v.created_at)}")
    table(
        f"upstream of {v.ref}", ["step", "what", Col("detail", detail=True)], _upstream_rows(found.upstream)
    )
    up = found.upstream
    if up.gates:
        table(
            f"gates (judged against {up.champion or 'no champion'})",
            ["rule", "result", "detail"],
            [[g.rule, "pass" if g.passed else "FAIL", g.detail] for g in up.gates],
        )
    table(
        f"downstream of {v.ref}",
        ["step", "what", Col("detail", detail=True)],
        _downstream_rows(found.downstream),
    )


def _upstream_rows(up: Upstream) -> list[list[Any]]:
    d = up.data
    where = (
        f"{d.rows} rows, {'valid' if d.valid else 'invalid'}, ingested {fmt(d.ingested_at)}"
        if d.found
        else ""
    )
    rows: list[list[Any]] = [
        ["source", d.source or "?", ""],
        [
            "dataset",
            d.dataset or "unknown",
            f"hash {(d.content_hash or '')[:16]}" + (f", {where}" if where else ""),
        ],
    ]
    rows += [
        ["feature view", f.view, f"code {f.code_version[:12]}, over {f.dataset or '?'}"]
        for f in up.feature_views
    ]
    if up.training_set is not None:
        t = up.training_set
        rows.append(
            ["training set", t.id[:16], f"{t.feature_service}, {t.rows if t.rows is not None else '?'} rows"]
        )
    if up.run is not None:
        rows.append(["run", up.run.id, _run_detail(up.run, up)])
    rows.append(["judged against", up.champion or "-", ""])
    rows.append(["feedback", f"{up.feedback_rows} labelled requests", up.feedback_requests or ""])
    return rows


def _run_detail(r: RunUsed, up: Upstream) -> str:
    """The run's name, state and params digest, the rows it trained on, and its environment's plain values."""
    head = f"{r.name} {r.status}, params {(r.params_digest or '')[:12]}, " if r.found else "(not stored) "
    rows = f"{up.train_rows or '?'} train / {up.holdout_rows or '?'} holdout rows"
    env = ", ".join(f"{k} {v}" for k, v in sorted(r.environment.items()) if isinstance(v, str | int | float))
    return head + rows + (f"; {env}" if env else "")


def _downstream_rows(down: Downstream) -> list[list[Any]]:
    rows: list[list[Any]] = [["alias now", a, ""] for a in down.aliases]
    rows += [
        ["alias held", s.alias, f"{fmt(s.since) or 'before'} → {fmt(s.until) or 'now'} by {s.actor or '?'}"]
        for s in down.alias_history
    ]
    rows += [["route", r.kind, "" if r.weight is None else f"{r.weight:g}%"] for r in down.routes]
    rep = down.reports
    newest = rep.newest[0] if rep.newest else None
    rows.append(
        [
            "monitoring",
            f"{rep.count}{'+' if rep.capped else ''} reports",
            f"newest {fmt(newest.created_at)}: {newest.status}, {newest.rows} rows" if newest else "",
        ]
    )
    rows += [["retrain trigger", fmt(e.time), e.reason or e.kind] for e in down.retrains]
    rows += [["judged against it", j.ref, j.status] for j in down.judged]
    if down.traffic is not None:
        t = down.traffic
        routes = ", ".join(f"{r} {n}" for r, n in sorted(t.rows.items()))
        rows.append(
            ["predictions", f"{t.total} logged", f"since {fmt(t.since)}" + (f": {routes}" if routes else "")]
        )
    return rows


def _print_request(found: RequestLineage) -> None:
    r = found
    console.print(
        f"[bold]request {r.request_id}[/] at {fmt(r.time)}: {r.model}/{r.version} on route {r.route}"
    )
    change = r.routing_change
    routing = f"event {change.id} {change.kind} at {fmt(change.time)}" if change else "none recorded"
    proba = ", ".join(f"{c} {p:.4f}" for c, p in zip(r.classes or [], r.probabilities or [], strict=False))
    label = r.label
    table(
        "answer",
        ["field", Col("value", detail=False)],
        [
            ["prediction", r.prediction],
            ["probabilities", proba or "-"],
            ["latency", f"{r.latency_ms:.1f} ms"],
            ["routing in force", routing],
            ["rules broken", r.violations or "-"],
            [
                "label",
                f"{label.label} from {label.actor} at {fmt(label.received_at)}" if label else "none yet",
            ],
        ]
        + [[f"shadow v{s.version}", s.prediction] for s in r.shadow],
    )
    looked_up = {f.name: f for f in r.features}
    table(
        "input vector",
        ["input", "from", Col("value", detail=False)],
        [
            [name, f"store: {looked_up[name].view}" if name in looked_up else "request", fmt(value)]
            for name, value in r.inputs.items()
        ],
    )
    for view, code in sorted({(f.view, f.code_version) for f in r.features}):
        times = [
            f"{f.name} true at {fmt(f.event_time)}" for f in r.features if f.view == view and f.event_time
        ]
        when = "; ".join(times) or "their event times are not in the prediction log"
        console.print(f"looked up in the online store: {view} (code {code[:12]}); {when}")
