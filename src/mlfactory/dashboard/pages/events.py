"""Events: the audit log a page at a time, filtered by model, kind, actor and time; the controller's pause
and resume switches per managed model (an operator's token and the form's CSRF token required)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from mlfactory.control.states import TRANSITIONS, RolloutState
from mlfactory.dashboard.access import CSRF_FIELD, Viewer, check_form
from mlfactory.dashboard.app import ViewerDep, project
from mlfactory.dashboard.render import query, render
from mlfactory.errors import ConfigError

router = APIRouter()
# the rollout state machine as drawn: the way a challenger goes live, and where a rollout can end early
TRACK = [RolloutState(s) for s in ("idle", "retraining", "gated", "shadow", "canary", "promoted")]
ENDS = [RolloutState(s) for s in ("rejected", "failed", "rolled_back")]


def parse_time(text: str, field: str) -> datetime | None:
    """An ISO 8601 date or time from a filter (UTC when it names no zone); empty is no bound."""
    if not text.strip():
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            f"{field} '{text}' is not a date or time; write e.g. 2026-05-01 or 2026-05-01T12:00"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@router.get("/events", response_class=HTMLResponse)
def events(
    request: Request,
    viewer: Viewer = ViewerDep,
    model: str = "",
    kind: str = "",
    actor: str = "",
    since: str = "",
    until: str = "",
    offset: int = Query(0, ge=0),
    limit: int = Query(50, ge=1, le=500),
) -> HTMLResponse:
    """One page of events, newest first; the filters are the query string."""
    opened = project(request)
    kinds = [k.strip() for k in kind.split(",") if k.strip()]
    page = opened.events_page(
        model=model or None,
        kinds=kinds or None,
        actor=actor or None,
        since=parse_time(since, "since"),
        until=parse_time(until, "until"),
        offset=offset,
        limit=limit,
    )
    managed = [(n, opened.rollout(n)) for n in opened.managed_models()]
    moves = {n: sorted(TRANSITIONS[RolloutState(r.state)]) for n, r in managed}
    params = {"model": model, "kind": kind, "actor": actor, "since": since, "until": until, "limit": limit}
    return render(
        request,
        viewer,
        "events.html",
        {
            "page": page,
            "params": params,
            "managed": managed,
            "moves": moves,
            "track": TRACK,
            "ends": ENDS,
            "csrf_field": CSRF_FIELD,
        },
    )


def _switch(
    request: Request, viewer: Viewer, model: str, reason: str, csrf: str, paused: bool
) -> RedirectResponse:
    check_form(viewer, csrf)
    opened = project(request)
    why = reason.strip() or ("paused" if paused else "resumed") + " from the dashboard"
    (opened.pause if paused else opened.resume)(model or None, reason=why, actor=viewer.name)
    base = request.scope.get("root_path", "").rstrip("/")
    return RedirectResponse(f"{base}/events{query({'model': model})}", status_code=303)


@router.post("/controller/pause")
def pause(
    request: Request,
    viewer: Viewer = ViewerDep,
    model: str = Form(""),
    reason: str = Form(""),
    csrf: str = Form(""),
) -> RedirectResponse:
    """Stop the controller acting on a model (every managed model when none is named)."""
    return _switch(request, viewer, model, reason, csrf, True)


@router.post("/controller/resume")
def resume(
    request: Request,
    viewer: Viewer = ViewerDep,
    model: str = Form(""),
    reason: str = Form(""),
    csrf: str = Form(""),
) -> RedirectResponse:
    """Let the controller act on a model again (every managed model when none is named)."""
    return _switch(request, viewer, model, reason, csrf, False)
