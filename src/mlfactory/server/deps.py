"""Small request helpers shared by the routers: the runtime, bearer tokens, bounded bodies, JSON, versions."""

from __future__ import annotations

import hmac
import json
from typing import Annotated, Any

import orjson
from fastapi import Path, Request
from fastapi.responses import Response
from pydantic import AfterValidator, Field

from mlfactory.config import ServerConfig
from mlfactory.errors import PayloadTooLargeError, UnauthorizedError, ValidationError
from mlfactory.project import Project
from mlfactory.serving import PredictionLog, ServingRuntime

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


async def require_token(request: Request) -> None:
    """Endpoints that show the project's state (model and route listings, monitoring, metrics) need the
    bearer token when one is configured: with a token set only liveness, readiness and (unless
    ``server.protect_predictions``) predictions answer without it."""
    _check_token(request, server_config(request).token)


def has_token(request: Request) -> bool:
    """Whether the request may see internals: no token is configured, or it carries the right one."""
    try:
        _check_token(request, server_config(request).token)
    except UnauthorizedError:
        return False
    return True


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
            parsed = json.loads(body)
        except (ValueError, RecursionError):
            raise ValidationError(f"malformed JSON: {exc}") from None
    # orjson refuses what json accepts besides NaN: escaped lone surrogates ("\ud800"), which are no text at
    # all and would fail later in the online store, the frame builder or the log
    where = unpaired_surrogate(parsed)
    if where is not None:
        raise ValidationError(
            f"malformed JSON: {where} holds an unpaired UTF-16 surrogate (an escape such as \\ud800 without "
            "its pair), which is not text; send valid Unicode"
        )
    return parsed


def unpaired_surrogate(value: Any, path: str = "body") -> str | None:
    """Where in parsed JSON a string (a value or a key) holds a lone surrogate, or None."""
    stack = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if not _encodes(item):
                return where
        elif isinstance(item, dict):
            for k, v in item.items():
                if isinstance(k, str) and not _encodes(k):
                    return f"{where} (a key)"
                stack.append((v, f"{where}.{k}"))
        elif isinstance(item, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(item))
    return None


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def valid_text(text: str) -> str:
    """A pydantic validator for strings a store keeps: refuse a lone surrogate, which is no text, and the NUL
    character, which PostgreSQL's text cannot hold."""
    if not _encodes(text):
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
