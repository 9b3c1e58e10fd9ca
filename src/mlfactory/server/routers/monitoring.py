"""``GET /v1/models/{name}/monitoring``: the model's newest monitoring reports, or a fresh check of a window.

Without ``window`` or ``last`` the answer is read from the stored reports (what `mlfactory monitor run` and
the controller wrote), newest per version and route, plus a short history. With ``window=1h`` or
``last=5000`` the server checks that window of its own prediction log now and answers with the reports
without storing them, so the GET has no side effects. With ``server.token`` set it needs the token: the
reports hold live category values and label balances, and a fresh check reads the whole window of the log.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from mlfactory.config import parse_duration
from mlfactory.errors import ConfigError, ValidationError
from mlfactory.server import deps

router = APIRouter(prefix="/v1", tags=["monitoring"], dependencies=[Depends(deps.require_viewer)])
LONGEST_WINDOW = 100 * 365 * 86400.0  # seconds; a window reaching before year 1 cannot be computed
MOST_ROWS = 10**9


def _seconds(window: str | None, last: int | None) -> float | None:
    """The time window to check now, in seconds (None: ``last`` rows, or the stored reports)."""
    if window is not None and last is not None:
        raise ValidationError("give either window (a time span such as 1h) or last (a row count), not both")
    if window is None:
        return None
    try:
        seconds = parse_duration(window)
    except ValueError as exc:
        raise ValidationError(f"window: {exc}") from None
    if not seconds <= LONGEST_WINDOW:  # the window's start must be a date (and inf/NaN are no span)
        raise ValidationError(
            f"window: '{window}' is longer than the longest window this server checks "
            f"({LONGEST_WINDOW // 86400:.0f}d); ask for a shorter one, or for the last N rows with ?last=N"
        )
    return seconds


@router.get("/models/{name}/monitoring", summary="Drift, performance and health of a model's traffic")
def monitoring(
    request: Request,
    name: str,
    window: str | None = Query(None, description="check this time window now, e.g. 15m or 1h"),
    last: int | None = Query(None, ge=1, le=MOST_ROWS, description="check the last N logged rows now"),
    version: int | None = Query(None, ge=1, le=deps.MAX_VERSION, description="only this version"),
    route: str | None = Query(None, description="only this route (production, canary, shadow, …)"),
    history: int = Query(20, ge=0, le=500, description="stored reports to list"),
) -> Response:
    project = deps.project(request)
    seconds = _seconds(window, last)
    body: dict[str, Any] = {"model": name}
    if seconds is not None or last is not None:
        plog = deps.prediction_log(request)
        if plog is None:
            raise ConfigError(
                "this server does not write a prediction log (server.prediction_log.enabled is "
                "false), so there is no traffic to check"
            )
        plog.flush()
        reports = project.monitor(
            name,
            seconds=seconds,
            last=last,
            version=version,
            route=route,
            store=False,
            alerts=False,
            log=plog,
        )
        body["source"] = "computed"
        body["reports"] = [r.to_dict() for r in reports]
    else:
        latest = project.latest_monitor_reports(name, version=version, route=route, scan=max(history, 50))
        body["source"] = "stored"
        body["reports"] = latest
        if not latest:
            body["message"] = (
                f"no stored monitoring report for '{name}' yet; run `mlfactory monitor run "
                f"--model {name}` or ask for a fresh check with ?window=1h"
            )
    keys = ("id", "created_at", "version", "route", "rows", "status", "metrics")
    recent = project.monitor_history(name, version=version, route=route, limit=history)
    body["history"] = [{k: getattr(r, k) for k in keys} for r in recent][-history:] if history else []
    return deps.json_response(body)
