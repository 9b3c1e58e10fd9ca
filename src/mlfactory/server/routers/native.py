"""The native API: ``/v1/models/...`` predictions and model listings, ``/v1/feedback``.

``POST /v1/models/{name}/predict`` routes by the model's policy (production, canary or A/B, plus shadow);
``POST /v1/models/{name}@{alias}/predict`` answers with exactly the version that alias names;
``POST /v1/models/{name}/versions/{version}/predict`` with exactly that version.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from mlfactory.errors import NotFoundError, ValidationError
from mlfactory.registry import PRODUCTION
from mlfactory.server import deps
from mlfactory.server.answers import input_policy, native_answer, native_payload
from mlfactory.serving import record_feedback

router = APIRouter(prefix="/v1", tags=["native"])

PREDICT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {
                            "type": "object",
                            "required": ["records"],
                            "properties": {
                                "records": {"type": "array", "items": {"type": "object"}},
                                "key": {"description": "routing key for every row (A/B, sticky canary)"},
                            },
                        },
                        {
                            "type": "object",
                            "required": ["columns"],
                            "properties": {
                                "columns": {"type": "object", "additionalProperties": {"type": "array"}},
                                "key": {},
                            },
                        },
                    ]
                },
                "example": {"records": [{"n_links": 3, "language": "en", "subject": "hi", "body": "hello"}]},
            }
        },
    }
}


async def _predict(request: Request, name: str, alias: str | None, version: int | None) -> Response:
    started = time.perf_counter()
    raw = await deps.read_body(request)
    runtime = deps.runtime(request)
    decoded = runtime.decode_records(name, raw) if alias is None and version is None else None
    payload, key = decoded or native_payload(deps.parse_json(raw))
    key = request.headers.get("x-routing-key", key)
    result = await runtime.predict(
        name,
        payload,
        alias=alias,
        version=version,
        key=key,
        started=started,
        on_invalid=input_policy(request, name),
    )
    return deps.json_response(native_answer(result))


@router.post(
    "/models/{name}/predict",
    dependencies=[Depends(deps.require_predict)],
    openapi_extra=PREDICT_BODY,
    summary="Predict with a model (routed), or NAME@ALIAS for one alias's version",
)
async def predict(request: Request, name: str) -> Response:
    model, _, alias = name.partition("@")
    return await _predict(request, model, alias or None, None)


@router.post(
    "/models/{name}/versions/{version}/predict",
    dependencies=[Depends(deps.require_predict)],
    openapi_extra=PREDICT_BODY,
    summary="Predict with exactly one version",
)
async def predict_version(request: Request, name: str, version: int) -> Response:
    return await _predict(request, name, None, version)


@router.get("/models", summary="Served models, their routes and load failures")
def list_models(request: Request) -> dict[str, Any]:
    return deps.runtime(request).status()


@router.get("/models/{name}", summary="One served model: routes, and the production version's inputs")
def show_model(request: Request, name: str) -> dict[str, Any]:
    rt = deps.runtime(request)
    table = rt.tables.get(name)
    if table is None:
        raise NotFoundError(
            f"model '{name}' is not served (served: {', '.join(sorted(rt.tables)) or 'none'})"
        )
    first = table.routes[-1].served
    sig = first.version.signature
    return {
        "name": name,
        **rt.status()["models"][name],
        "inputs": sig["inputs"],
        "task": sig.get("task"),
        "classes": sig.get("classes"),
        "aliases": {a: v for (m, a), v in rt.aliases.items() if m == name},
        "default_alias": PRODUCTION,
    }


@router.post(
    "/feedback",
    dependencies=[Depends(deps.require_admin)],
    tags=["feedback"],
    summary="True labels for earlier request ids; unknown ids are reported back",
)
async def feedback(request: Request) -> Response:
    body = deps.parse_json(await deps.read_body(request))
    rows = body.get("labels") if isinstance(body, dict) else body
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ValidationError('send {"labels": [{"request_id": "...", "label": ...}, ...]}')
    pairs = []
    for i, r in enumerate(rows):
        if "request_id" not in r or "label" not in r:
            raise ValidationError(f"labels row {i}: needs 'request_id' and 'label'")
        pairs.append((r["request_id"], r["label"]))
    source = body.get("source") if isinstance(body, dict) else None
    if source is not None and (not isinstance(source, str) or not 0 < len(source) <= 128):
        raise ValidationError(
            "'source' must be a short text naming who produced the labels, e.g. \"reviewers\", or "
            '"auto:quarantine" for labels that came from the model\'s own decisions'
        )
    log = deps.prediction_log(request)
    if log is None:
        raise ValidationError("this server does not keep a prediction log, so it cannot match feedback")
    proj = deps.project(request)
    result = await asyncio.to_thread(
        record_feedback, proj.metadata, log, pairs, actor=source or request.app.state.actor
    )
    return deps.json_response(result.to_dict())
