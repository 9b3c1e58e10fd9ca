"""Liveness, readiness and Prometheus metrics.

With ``server.token`` set, the readiness probes (``/readyz``; ``/v2/health/ready`` in the V2 router) still
answer without it, since Kubernetes' probes carry no token, but then say only whether the server is ready
and, when not, a generic reason: the full status (versions, routes, load failures with their messages, the
online store's address, the prediction log's write health) needs the token. ``/metrics`` needs the token
(Prometheus sends it with ``authorization: {credentials: ...}`` or ``bearer_token``): its series name the
models, versions and routes and carry the monitoring figures.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from mlfactory.server import deps
from mlfactory.stores.predictions.writer import WriteHealth

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def probe_answer(status: dict[str, Any]) -> dict[str, Any]:
    """What a readiness probe without the token learns: ready or not, and why not in general terms."""
    if status["ready"]:
        return {"ready": True}
    if status.get("online_store") and not status["online_store"]["ok"]:
        reason = "the online feature store does not answer"
    elif status.get("failures"):
        reason = "a served model failed to load"
    else:
        reason = "the served models are not loaded yet"
    return {"ready": False, "reason": reason}


def log_health(health: WriteHealth) -> dict[str, Any]:
    """The prediction log's part of the full status. Its outage never makes the server unready: predictions
    are still answered while the rows wait in memory."""
    return {
        "ok": health.ok,
        "failing_since": health.failing_since.isoformat() if health.failing_since else None,
        "error": health.error,
        "failed_writes": health.failed_writes,
        "held_rows": health.held_rows,
        "dropped_rows": health.dropped_rows,
    }


@router.get(
    "/readyz",
    summary="Ready only when every served model is loaded and, when one looks features up, the online "
    "store answers; lists load failures and the prediction log's write health (with a token configured, "
    "only to requests carrying it)",
)
async def readyz(request: Request) -> Response:
    status = await asyncio.to_thread(deps.runtime(request).readiness)
    if not await deps.may_view(request):
        return deps.json_response(probe_answer(status), 200 if status["ready"] else 503)
    plog = deps.prediction_log(request)
    if plog is not None:
        status["prediction_log"] = log_health(plog.health())
    return deps.json_response(status, 200 if status["ready"] else 503)


@router.get(
    "/metrics", dependencies=[Depends(deps.require_viewer)], summary="Prometheus metrics (token, when set)"
)
def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
