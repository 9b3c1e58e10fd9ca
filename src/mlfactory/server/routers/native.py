"""The native API: ``/v1/models/...`` predictions and model listings (feedback has its own router).

``POST /v1/models/{name}/predict`` routes by the model's policy (production, canary or A/B, plus shadow);
``POST /v1/models/{name}@{alias}/predict`` answers with exactly the version that alias names;
``POST /v1/models/{name}/versions/{version}/predict`` with exactly that version.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from mlfactory.entities import PRODUCTION
from mlfactory.errors import NotFoundError
from mlfactory.inputs import ARROW_STREAM, Payload, arrow_payload, native_payload, parse_json
from mlfactory.server import deps
from mlfactory.server.answers import input_policy, native_answer

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
            },
            ARROW_STREAM: {
                "schema": {
                    "type": "string",
                    "format": "binary",
                    "description": "the rows as an Arrow IPC stream (one column per input; the routing "
                    "key, if any, in the X-Routing-Key header)",
                }
            },
        },
    }
}


def _payload(request: Request, raw: bytes, name: str, routed: bool) -> tuple[Payload, object]:
    """The request's rows and routing key: an Arrow stream, or a JSON body (decoded straight into numbers
    when the routed versions allow it)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == ARROW_STREAM:
        return arrow_payload(raw), None
    decoded = deps.runtime(request).decode_records(name, raw) if routed else None
    return decoded or native_payload(parse_json(raw))


async def _predict(request: Request, name: str, alias: str | None, version: int | None) -> Response:
    started = time.perf_counter()
    raw = await deps.read_body(request)
    runtime = deps.runtime(request)
    payload, key = _payload(request, raw, name, routed=alias is None and version is None)
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
    # the routing state that routed the answer (see ServingRuntime.refresh); a header keeps the body as it is
    revision = result.route_revision
    headers = {"X-Route-Revision": str(revision)} if revision is not None else None
    return deps.json_response(native_answer(result), headers=headers)


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
async def predict_version(request: Request, name: str, version: deps.VersionPath) -> Response:
    return await _predict(request, name, None, version)


@router.get(
    "/models",
    dependencies=[Depends(deps.require_viewer)],
    summary="Served models, their routes and load failures",
)
def list_models(request: Request) -> dict[str, Any]:
    return deps.runtime(request).status()


@router.get(
    "/models/{name}",
    dependencies=[Depends(deps.require_viewer)],
    summary="One served model: routes, and the production version's inputs",
)
def show_model(request: Request, name: str) -> dict[str, Any]:
    rt = deps.runtime(request)
    table = rt.tables.get(name)
    if table is None:
        raise NotFoundError(
            f"model '{name}' is not served (served: {', '.join(sorted(rt.tables)) or 'none'})"
        )
    first = table.routes[-1].served
    sig = first.version.signature.to_json()  # as stored: the answer shows the signature's own words
    return {
        "name": name,
        **rt.status()["models"][name],
        "inputs": sig["inputs"],
        "task": sig.get("task"),
        "classes": sig.get("classes"),
        "aliases": {a: v for (m, a), v in rt.aliases.items() if m == name},
        "default_alias": PRODUCTION,
    }
