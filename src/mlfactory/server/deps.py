"""Small request helpers shared by the routers: the runtime, bearer tokens, bounded bodies, JSON."""

from __future__ import annotations

import hmac
import json
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response

from mlfactory.config import ServerConfig
from mlfactory.errors import PayloadTooLargeError, UnauthorizedError, ValidationError
from mlfactory.project import Project
from mlfactory.serving import PredictionLog, ServingRuntime

JSON_TYPE = "application/json"


def runtime(request: Request) -> ServingRuntime:
    return request.app.state.runtime  # type: ignore[no-any-return]


def server_config(request: Request) -> ServerConfig:
    return request.app.state.server_config  # type: ignore[no-any-return]


def project(request: Request) -> Project:
    return request.app.state.project  # type: ignore[no-any-return]


def prediction_log(request: Request) -> PredictionLog | None:
    return request.app.state.prediction_log  # type: ignore[no-any-return]


def _check_token(request: Request, token: str | None) -> None:
    if not token:
        return
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise UnauthorizedError(
            "this endpoint needs the server's token: send 'Authorization: Bearer <token>'"
        )


# The two guards are coroutines so that FastAPI calls them on the event loop: a plain function would be sent
# to a worker thread on every request.
async def require_admin(request: Request) -> None:
    """Changing endpoints (deploy, routing, reload, feedback) need the bearer token when one is configured."""
    _check_token(request, server_config(request).token)


async def require_predict(request: Request) -> None:
    """Prediction endpoints need the token only when ``server.protect_predictions`` is set."""
    cfg = server_config(request)
    if cfg.protect_predictions:
        _check_token(request, cfg.token)


async def read_body(request: Request) -> bytes:
    """The request body, refusing (413) one over ``server.max_body_bytes`` before reading all of it."""
    limit = server_config(request).max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(
            f"the body is {int(declared)} bytes, over this server's limit of {limit} "
            "bytes; send fewer rows per request"
        )
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(
                f"the body is over this server's limit of {limit} bytes; send fewer rows per request"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes) -> Any:
    """orjson parse with a 400-class error that says where the JSON broke."""
    if not body.strip():
        raise ValidationError("the request body is empty; send a JSON object")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        try:  # NaN and Infinity are not JSON, but many encoders write them: let the input checks name them
            return json.loads(body)
        except (ValueError, RecursionError):
            raise ValidationError(f"malformed JSON: {exc}") from None


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response serialized by orjson (NumPy arrays included)."""
    return Response(
        orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status,
        media_type=JSON_TYPE,
        headers=headers,
    )
