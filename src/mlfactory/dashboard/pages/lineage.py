"""Lineage of a model version: source snapshot → feature views → training set → run → version → routes →
monitoring reports → the retrain it triggered and the versions judged against it. Every node links to the
page that shows it."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from mlfactory.dashboard.access import Viewer
from mlfactory.dashboard.app import ViewerDep, project
from mlfactory.dashboard.render import render
from mlfactory.entities import DatasetVersion, ModelVersion
from mlfactory.errors import NotFoundError
from mlfactory.project import Project

router = APIRouter()
REPORTS = 5  # the newest monitoring reports of the version listed
RETRAINS = ("rollout.retraining",)
NEXT_SCAN = 50  # versions after this one searched for those judged against it


@dataclass(frozen=True)
class Node:
    """One step of the chain: what it is, its name, a link (None when nothing shows it), details."""

    kind: str
    label: str
    href: str | None = None
    detail: str = ""


def _dataset(opened: Project, ref: str | None) -> DatasetVersion | None:
    if not ref:
        return None
    try:
        return opened.dataset(ref)
    except NotFoundError:  # a snapshot deleted since: the chain still shows its id
        return None


def _upstream(opened: Project, v: ModelVersion, base: str) -> list[Node]:
    """Where the version came from: its data, features, training set, run and the champion it beat."""
    lin = v.lineage
    data = _dataset(opened, lin.dataset)
    nodes = [
        Node(
            "source snapshot",
            f"{lin.source or '?'}: {lin.dataset or 'unknown'}",
            None,
            f"{data.n_rows} rows, {'valid' if data.valid else 'invalid'}, hash {data.content_hash[:12]}"
            if data
            else (lin.dataset_hash or "")[:12],
        )
    ]
    if lin.features is not None:
        for view, code in sorted(lin.features.feature_views.items()):
            table = lin.features.feature_datasets.get(view, "?")
            nodes.append(Node("feature view", view, None, f"code {code[:12]}, over {table}"))
        nodes.append(Node("training set", lin.features.training_set[:16], None, lin.features.feature_service))
    if v.run_id:
        nodes.append(Node("run", v.run_id[:8], f"{base}/runs/{v.run_id}", f"{lin.train_rows or '?'} rows"))
    if lin.champion:
        name, _, number = lin.champion.partition("/")
        nodes.append(Node("judged against", lin.champion, f"{base}/lineage/{name}/{number}", "the champion"))
    return nodes


def _downstream(opened: Project, v: ModelVersion, base: str) -> list[Node]:
    """Where the version went: its routes, its monitoring, the retrains and the versions judged against it."""
    routes = opened.route_table(v.name)
    nodes = [
        Node("alias", a, f"{base}/models/{v.name}")
        for a, n in sorted(routes.aliases.items())
        if n == v.version
    ]
    if routes.canary == v.version:
        nodes.append(Node("route", f"canary {routes.canary_weight:g}%", f"{base}/deployments"))
    if routes.shadow == v.version:
        nodes.append(Node("route", "shadow", f"{base}/deployments"))
    nodes += [Node("route", f"A/B {w:g}%", f"{base}/deployments") for n, w in routes.ab if n == v.version]
    monitoring = f"{base}/monitoring?model={v.name}&version={v.version}"
    for r in opened.monitor_reports(v.name, version=v.version, limit=REPORTS)[::-1]:
        labelled = r.metrics.get("performance.labelled_rows")
        extra = f", {labelled:g} labelled" if isinstance(labelled, int | float) else ""
        nodes.append(
            Node(
                "monitoring report",
                f"{r.route or ''} {r.status}".strip(),
                monitoring,
                f"{r.rows} rows{extra}",
            )
        )
    events = f"{base}/events?model={v.name}&kind=rollout.retraining"
    retrains = [
        e for e in opened.events_page(model=v.name, kinds=RETRAINS, limit=50).items if e.time >= v.created_at
    ]
    nodes += [
        Node("retrain trigger", e.reason or e.kind, events, f"{e.time:%Y-%m-%d %H:%M}") for e in retrains[-3:]
    ]
    newest = opened.versions_page(v.name, limit=1).items[0].version
    span = min(NEXT_SCAN, newest - v.version)  # the versions right after this one
    later = opened.versions_page(v.name, offset=newest - v.version - span, limit=span).items if span else []
    nodes += [
        Node("next version", f"v{n.version}", f"{base}/lineage/{n.name}/{n.version}", n.status.value)
        for n in reversed(later)
        if n.lineage.champion == v.ref
    ]
    return nodes


@router.get("/lineage/{name:path}/{version}", response_class=HTMLResponse)
def lineage(request: Request, name: str, version: int, viewer: Viewer = ViewerDep) -> HTMLResponse:
    opened = project(request)
    v = opened.version(f"{name}/{version}")
    base = request.scope.get("root_path", "").rstrip("/")
    context = {
        "v": v,
        "upstream": _upstream(opened, v, base),
        "downstream": _downstream(opened, v, base),
    }
    return render(request, viewer, "lineage.html", context)
