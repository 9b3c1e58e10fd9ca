"""The document ``/openapi.json`` publishes: FastAPI's, plus what each endpoint answers besides success.

Every error is ``{"error": message}`` (``reasons`` when there are several; MLflow's ``error_code`` and
``message`` on its endpoints), never FastAPI's ``detail`` list: the document says so for every refusal
(``4XX``, with the V2 endpoints answering 400 where others answer 422) and for ``503`` (a store or the
model is unavailable; the readiness endpoints answer their status instead). ``/metrics`` is Prometheus text
and a V2 inference may answer with binary tensors.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from prometheus_client import CONTENT_TYPE_LATEST

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "what was wrong, what is allowed, how to fix it"},
        "reasons": {"type": "array", "items": {"type": "string"}},
        "error_code": {"type": "string"},
        "message": {"type": "string"},
    },
}
READY = {"type": "object", "required": ["ready"], "properties": {"ready": {"type": "boolean"}}}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _document(path: str, responses: dict[str, Any]) -> None:
    refused = responses.pop("422", None)
    if not path.startswith("/v2/"):
        responses["422"] = {
            "description": (refused or {}).get("description", "the request does not fit"),
            "content": _json(ERROR),
        }
    responses["4XX"] = {
        "description": "refused: a malformed body or parameter (400 in V2), no or a wrong token (401), "
        "an unknown model or version (404), a body over the server's limits (413)",
        "content": _json(ERROR),
    }
    if path.endswith(("/ready", "/readyz")):
        responses["503"] = {"description": "not ready", "content": _json(READY)}
    else:
        responses["503"] = {
            "description": "a store, the online features or the model is unavailable now",
            "content": _json(ERROR),
        }
    ok = responses.get("200", {})
    if path == "/metrics":
        ok["content"] = {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}
    elif path.endswith("/infer"):
        ok.setdefault("content", {})["application/octet-stream"] = {
            "schema": {"type": "string", "format": "binary"}
        }


def install_openapi(app: FastAPI) -> None:
    """Serve the documented schema at ``/openapi.json`` (built once)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            for path, item in spec.get("paths", {}).items():
                for operation in item.values():
                    _document(path, operation.setdefault("responses", {}))
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
