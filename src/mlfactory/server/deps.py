"""Small request helpers shared by the routers: the runtime, bearer tokens, bounded bodies, JSON, versions.

What a body may contain (JSON, the native shapes, rows) is decided in :mod:`mlfactory.inputs`; this module
only bounds and reads it.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Path, Request
from fastapi.responses import Response
from pydantic import AfterValidator, Field

from mlfactory.config import ServerConfig
from mlfactory.entities import Role
from mlfactory.errors import PayloadTooLargeError, UnauthorizedError
from mlfactory.inputs.requests import is_text
from mlfactory.project import Project
from mlfactory.server.auth import Identity, TokenCache, authorize
from mlfactory.serving import ServingRuntime
from mlfactory.stores.predictions import PredictionLog

JSON_TYPE = "application/json"
MAX_VERSION = 2**63 - 1  # versions are 64-bit integers in every metadata store
VersionPath = Annotated[int, Path(ge=1, le=MAX_VERSION, description="the version number")]
VersionNumber = Annotated[int, Field(ge=1, le=MAX_VERSION)]


def runtime(request: Request) -> ServingRuntime:
    return request.app.state.runtime  # type: ignore[no-any-return]


def server_config(request: Request) -> ServerConfig:
    return request.app.state.server_config  # type: ignore[no-any-return]


def project(request: Request) -> Project:
    return request.app.state.project  # type: ignore[no-any-return]


def prediction_log(request: Request) -> PredictionLog | None:
    return request.app.state.prediction_log  # type: ignore[no-any-return]


def token_cache(request: Request) -> TokenCache:
    return request.app.state.tokens  # type: ignore[no-any-return]


async def _require(request: Request, needed: Role) -> None:
    """Let the call through when tokens are configured and its bearer token's role allows ``needed`` (or
    when none are configured); the caller's identity is kept for the events it causes."""
    request.state.identity = await authorize(
        token_cache(request), request.headers.get("authorization", ""), needed
    )


# The guards are coroutines so that FastAPI calls them on the event loop: a plain function would be sent to a
# worker thread on every request.
async def require_operator(request: Request) -> None:
    """Changing endpoints (deploy, routing, reload) need an ``operator`` token when tokens are configured."""
    await _require(request, Role.OPERATOR)


async def require_viewer(request: Request) -> None:
    """Endpoints that show the project's state (model and route listings, monitoring, metrics) need a
    ``viewer`` token when tokens are configured: then only liveness, readiness and (unless
    ``server.protect_predictions``) predictions answer without one."""
    await _require(request, Role.VIEWER)


async def require_predictor(request: Request) -> None:
    """Feedback needs a ``predictor`` token when tokens are configured."""
    await _require(request, Role.PREDICTOR)


async def require_predict(request: Request) -> None:
    """Prediction endpoints need a ``predictor`` token only when ``server.protect_predictions`` is set."""
    if server_config(request).protect_predictions:
        await _require(request, Role.PREDICTOR)


async def may_view(request: Request) -> bool:
    """Whether the request may see internals: no token is configured, or it carries a viewer's or above."""
    try:
        await _require(request, Role.VIEWER)
    except UnauthorizedError:
        return False
    return True


def actor(request: Request) -> str:
    """Who events caused by this request name: the token's identity, else the server's actor."""
    who: Identity | None = getattr(request.state, "identity", None)
    return who.name if who is not None else str(request.app.state.actor)


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


def valid_text(text: str) -> str:
    """A pydantic validator for strings a store keeps: refuse a lone surrogate, which is no text, and the NUL
    character, which PostgreSQL's text cannot hold."""
    if not is_text(text):
        raise ValueError("holds an unpaired UTF-16 surrogate (such as \\ud800), which is not text")
    if "\x00" in text:
        raise ValueError("holds the NUL character (\\u0000), which cannot be stored; leave it out")
    return text


Text = Annotated[str, AfterValidator(valid_text)]


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response serialized by orjson (NumPy arrays included)."""
    return Response(
        orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status,
        media_type=JSON_TYPE,
        headers=headers,
    )
