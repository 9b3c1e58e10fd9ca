"""Lineage of a model version: source snapshot → feature views → training set → run → version → routes →
monitoring reports → the retrain it triggered and the versions judged against it. Every node links to the
page that shows it. The lineage itself is read by :meth:`~mlfactory.project.Project.version_lineage` (the
one owner, which ``mlfactory lineage`` prints too); this page only draws it."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from mlfactory.dashboard.access import Viewer
from mlfactory.dashboard.app import ViewerDep, project
from mlfactory.dashboard.render import render
from mlfactory.project.lineage_records import Downstream, Upstream, VersionSummary

router = APIRouter()
RETRAINS_SHOWN = 3


@dataclass(frozen=True)
class Node:
    """One step of the chain: what it is, its name, a link (None when nothing shows it), details."""

    kind: str
    label: str
    href: str | None = None
    detail: str = ""


def _upstream(up: Upstream, base: str) -> list[Node]:
    """Where the version came from: its data, features, training set, run and the champion it beat."""
    data = up.data
    nodes = [
        Node(
            "source snapshot",
            f"{data.source or '?'}: {data.dataset or 'unknown'}",
            None,
            f"{data.rows} rows, {'valid' if data.valid else 'invalid'}, hash {(data.content_hash or '')[:12]}"
            if data.found
            else (data.content_hash or "")[:12],
        )
    ]
    for view in up.feature_views:
        nodes.append(
            Node(
                "feature view", view.view, None, f"code {view.code_version[:12]}, over {view.dataset or '?'}"
            )
        )
    if up.training_set is not None:
        nodes.append(Node("training set", up.training_set.id[:16], None, up.training_set.feature_service))
    if up.run is not None:
        run = up.run.id
        nodes.append(Node("run", run[:8], f"{base}/runs/{run}", f"{up.train_rows or '?'} rows"))
    if up.champion:
        name, _, number = up.champion.partition("/")
        nodes.append(Node("judged against", up.champion, f"{base}/lineage/{name}/{number}", "the champion"))
    return nodes


def _route(kind: str, weight: float | None) -> str:
    if kind == "canary":
        return f"canary {weight:g}%"
    return "shadow" if weight is None else f"A/B {weight:g}%"


def _downstream(v: VersionSummary, down: Downstream, base: str) -> list[Node]:
    """Where the version went: its routes, its monitoring, the retrains and the versions judged against it."""
    nodes = [Node("alias", a, f"{base}/models/{v.name}") for a in down.aliases]
    nodes += [Node("route", _route(r.kind, r.weight), f"{base}/deployments") for r in down.routes]
    monitoring = f"{base}/monitoring?model={v.name}&version={v.version}"
    for r in down.reports.newest:
        labelled = r.metrics.get("performance.labelled_rows")
        extra = f", {labelled:g} labelled" if isinstance(labelled, int | float) else ""
        label = f"{r.route or ''} {r.status}".strip()
        nodes.append(Node("monitoring report", label, monitoring, f"{r.rows} rows{extra}"))
    events = f"{base}/events?model={v.name}&kind=rollout.retraining"
    nodes += [
        Node("retrain trigger", e.reason or e.kind, events, f"{e.time:%Y-%m-%d %H:%M}")
        for e in down.retrains[-RETRAINS_SHOWN:]
    ]
    nodes += [
        Node("next version", f"v{n.version}", f"{base}/lineage/{n.name}/{n.version}", n.status)
        for n in down.judged
    ]
    return nodes


@router.get("/lineage/{name:path}/{version}", response_class=HTMLResponse)
def lineage(request: Request, name: str, version: int, viewer: Viewer = ViewerDep) -> HTMLResponse:
    opened = project(request)
    found = opened.version_lineage(f"{name}/{version}", traffic=None)  # the page shows no traffic figures
    base = request.scope.get("root_path", "").rstrip("/")
    context = {
        "v": found.version,
        "upstream": _upstream(found.upstream, base),
        "downstream": _downstream(found.version, found.downstream, base),
    }
    return render(request, viewer, "lineage.html", context)
