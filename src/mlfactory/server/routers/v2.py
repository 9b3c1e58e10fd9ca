"""The Open Inference Protocol V2 (KServe, Triton) for tabular models.

``POST /v2/models/{name}[/versions/{v}]/infer`` takes either one 2-D input of shape [rows, features] with the
columns in the order ``GET /v2/models/{name}`` lists them, or one input per column named after it. The
metadata lists what a request carries: for a model with a feature service, its entity keys and request-time
inputs; the features the online store serves are named under its ``parameters``
(``served_by_feature_store``), and a request that sends one overrides the store's value. Integer, float and
boolean tensors refuse values their datatype cannot hold (a cast would change them silently).
Outputs: ``predict`` [rows], ``probabilities`` [rows, classes] (classifiers), ``model_version``
[rows] and ``request_id`` [rows]. JSON and the binary tensor extension both work.
When the model answers under ``on_invalid_input: flag`` and rows broke a declared rule, the answer also has
``input_violations`` [rows] (BYTES: the rules each row broke, ``; ``-separated, empty for the others) and the
parameter ``input_violations`` (how many rows broke one).
Errors: ``{"error": "..."}``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

import mlfactory
from mlfactory.entities import Signature
from mlfactory.errors import NotFoundError, ValidationError
from mlfactory.inputs import parse_json
from mlfactory.server import deps
from mlfactory.server.answers import input_policy
from mlfactory.server.routers.health import probe_answer
from mlfactory.server.v2codec import DATATYPES, column_datatype, decode_input, encode_output, to_payload
from mlfactory.serving import PredictResult, ServedVersion

router = APIRouter(prefix="/v2", tags=["open inference protocol v2"])
_TENSOR = {
    "type": "object",
    "required": ["name", "shape", "datatype"],
    "properties": {
        "name": {"type": "string", "description": "a column, or any name for one 2-D input in feature order"},
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "datatype": {"type": "string", "enum": list(DATATYPES)},
        "parameters": {"type": "object", "description": "binary_data_size for a binary tensor"},
        "data": {"type": "array", "description": "the values, flat or nested (null: a missing value)"},
    },
}
INFER_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["inputs"],
                    "properties": {
                        "id": {"type": "string"},
                        "parameters": {
                            "type": "object",
                            "description": "routing_key, binary_data_output",
                        },
                        "inputs": {"type": "array", "minItems": 1, "items": _TENSOR},
                        "outputs": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {"name": {"type": "string"}, "parameters": {"type": "object"}},
                            },
                        },
                    },
                },
                "example": {
                    "inputs": [
                        {"name": "n_links", "shape": [1], "datatype": "INT64", "data": [3]},
                        {"name": "subject", "shape": [1], "datatype": "BYTES", "data": ["hi"]},
                    ]
                },
            }
        },
    }
}


@router.get("", dependencies=[Depends(deps.require_viewer)], summary="Server metadata")
def server_metadata() -> dict[str, Any]:
    return {"name": "mlfactory", "version": mlfactory.__version__, "extensions": ["binary_tensor_data"]}


@router.get("/health/live", summary="Server liveness")
def live() -> dict[str, bool]:
    return {"live": True}


@router.get(
    "/health/ready",
    summary="Server readiness, as /readyz: every served model is loaded and the online store answers",
)
def ready(request: Request) -> Response:
    status = deps.runtime(request).readiness()
    body = {"ready": True} if status["ready"] else probe_answer(status)
    return deps.json_response(body, 200 if status["ready"] else 503)


async def _served(request: Request, name: str, version: int | None) -> ServedVersion:
    rt = deps.runtime(request)
    if version is not None:
        return await rt.served_version(name, version)
    table = rt.tables.get(name)
    if table is None:
        raise NotFoundError(
            f"model '{name}' is not served (served: {', '.join(sorted(rt.tables)) or 'none'})"
        )
    return table.routes[-1].served


def client_inputs(sig: Signature) -> list[tuple[str, str]]:
    """(name, signature type) of what a request must carry: the inputs the online store does not serve
    (``source: store`` in the signature), then entity keys that are no input themselves (as text)."""
    given = [(c.name, c.type) for c in sig.inputs if c.source != "store"]
    names = {n for n, _ in given}
    return given + [(k, "text") for k in sig.entity_keys if k not in names]


def _metadata(name: str, sv: ServedVersion, versions: list[int]) -> dict[str, Any]:
    sig = sv.version.signature
    outputs = [
        {
            "name": "predict",
            "datatype": "BYTES"
            if any(isinstance(c, str) for c in sv.classes or [])
            else ("INT64" if sv.classes is not None else "FP64"),
            "shape": [-1],
        }
    ]
    if sv.has_proba:
        outputs.append({"name": "probabilities", "datatype": "FP64", "shape": [-1, len(sv.classes or [])]})
    outputs += [
        {"name": "model_version", "datatype": "INT64", "shape": [-1]},
        {"name": "request_id", "datatype": "BYTES", "shape": [-1]},
    ]
    meta: dict[str, Any] = {
        "name": name,
        "versions": [str(v) for v in versions],
        "platform": f"mlfactory-{sv.version.flavor}",
        "inputs": [
            {"name": n, "datatype": column_datatype(kind), "shape": [-1]} for n, kind in client_inputs(sig)
        ],
        "outputs": outputs,
    }
    served = [c.name for c in sig.inputs if c.source == "store"]
    if served:  # looked up by the entity keys: a request that sends them overrides the store's values
        meta["parameters"] = {
            "feature_service": sig.feature_service.name if sig.feature_service else None,
            "entity_keys": list(sig.entity_keys),
            "served_by_feature_store": served,
        }
    return meta


@router.get(
    "/models/{name}",
    dependencies=[Depends(deps.require_viewer)],
    summary="Model metadata (the production version): the inputs a request carries",
)
async def model_metadata(request: Request, name: str) -> dict[str, Any]:
    sv = await _served(request, name, None)
    return _metadata(name, sv, sorted(deps.runtime(request).tables[name].versions()))


@router.get(
    "/models/{name}/versions/{version}",
    dependencies=[Depends(deps.require_viewer)],
    summary="Model metadata of one version",
)
async def version_metadata(request: Request, name: str, version: deps.VersionPath) -> dict[str, Any]:
    sv = await _served(request, name, version)
    return _metadata(name, sv, [version])


async def _ready(request: Request, name: str, version: int | None) -> Response:
    rt = deps.runtime(request)
    if version is None:
        if name not in rt.tables:
            raise NotFoundError(f"model '{name}' is not served")
        return deps.json_response({"name": name, "ready": True})
    rt.metadata.get_model_version(name, version)  # 404 for an unknown version
    ok = any(r.served.number == version for t in rt.tables.values() if t.model == name for r in t.routes)
    return deps.json_response({"name": name, "version": str(version), "ready": ok}, 200 if ok else 503)


@router.get("/models/{name}/ready", dependencies=[Depends(deps.require_viewer)], summary="Model readiness")
async def model_ready(request: Request, name: str) -> Response:
    return await _ready(request, name, None)


@router.get(
    "/models/{name}/versions/{version}/ready",
    dependencies=[Depends(deps.require_viewer)],
    summary="Model version readiness",
)
async def version_ready(request: Request, name: str, version: deps.VersionPath) -> Response:
    return await _ready(request, name, version)


def _outputs(result: PredictResult) -> dict[str, np.ndarray]:
    pred = result.predictions
    if pred.dtype == object:
        pred = np.asarray([str(p) for p in pred.tolist()], dtype=object)
    out = {"predict": pred}
    if result.probabilities is not None:
        out["probabilities"] = np.asarray(result.probabilities, dtype=np.float64)
    out["model_version"] = np.asarray(result.versions, dtype=np.int64)
    out["request_id"] = np.asarray(result.request_ids, dtype=object)
    if result.input_violations is not None:
        out["input_violations"] = np.asarray(["; ".join(v) for v in result.input_violations], dtype=object)
    return out


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "null" if value is None else "an object"


def _parameters(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError(
            f"'{where}' must be an object of parameter → value, e.g. {{\"binary_data_output\": true}}; "
            f"got {_json_kind(value)}"
        )
    return value


def _wanted_outputs(value: Any) -> list[tuple[str, dict[str, Any]]]:
    """The request's ``outputs``: (name, parameters) per entry; refuses a malformed list naming the entry."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValidationError('\'outputs\' must be a list of objects such as {"name": "predict"}')
    wanted = []
    for i, o in enumerate(value):
        if not isinstance(o, dict) or not isinstance(o.get("name"), str):
            got = _json_kind(o.get("name")) if isinstance(o, dict) else _json_kind(o)
            raise ValidationError(
                f"outputs[{i}] must be an object whose 'name' is an output's name (text); got {got}"
            )
        wanted.append((o["name"], _parameters(o.get("parameters"), f"outputs[{i}].parameters")))
    return wanted


def _split_body(body: bytes, header: str | None) -> tuple[bytes, memoryview]:
    """The JSON header and the binary tensor data after it (``Inference-Header-Content-Length``)."""
    if header is None:
        return body, memoryview(b"")
    if not header.isdigit() or int(header) > len(body):
        raise ValidationError("Inference-Header-Content-Length does not fit the body")
    return body[: int(header)], memoryview(body)[int(header) :]


def _decode_inputs(inputs: list[Any], binary: memoryview) -> list[tuple[str, np.ndarray, str, int]]:
    """Every input tensor, binary ones read in order from the data after the JSON header."""
    decoded, offset = [], 0
    for i, tensor in enumerate(inputs):
        item = decode_input(tensor, i, binary, offset)
        offset = item[3]
        decoded.append(item)
    return decoded


def _encoded(
    produced: dict[str, np.ndarray], req: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[bytes]]:
    """The outputs the request asks for (all by default), as JSON descriptions and binary blobs."""
    params = _parameters(req.get("parameters"), "parameters")
    binary_default = bool(params.get("binary_data_output", False))
    wanted = _wanted_outputs(req.get("outputs"))
    picks = [(k, binary_default) for k in produced]
    if wanted:
        picks = []
        for oname, oparams in wanted:
            if oname not in produced:
                raise ValidationError(f"unknown output {oname!r}; this model gives {list(produced)}")
            picks.append((oname, bool(oparams.get("binary_data", binary_default))))
    outputs, blobs = [], []
    for oname, as_binary in picks:
        desc, raw = encode_output(oname, produced[oname], as_binary)
        outputs.append(desc)
        if raw is not None:
            blobs.append(raw)
    return outputs, blobs


def _response(name: str, req: dict[str, Any], result: PredictResult) -> Response:
    outputs, blobs = _encoded(_outputs(result), req)
    answer: dict[str, Any] = {"model_name": name, "outputs": outputs}
    if result.version is not None:
        answer["model_version"] = str(result.version)
    if "id" in req:
        answer["id"] = req["id"]
    if result.input_violations is not None:
        answer["parameters"] = {"input_violations": sum(1 for v in result.input_violations if v)}
    if not blobs:
        return deps.json_response(answer)
    head = orjson.dumps(answer)
    return Response(
        head + b"".join(blobs),
        media_type="application/octet-stream",
        headers={"Inference-Header-Content-Length": str(len(head))},
    )


async def _infer(request: Request, name: str, version: int | None) -> Response:
    started = time.perf_counter()
    body = await deps.read_body(request)
    body, binary = _split_body(body, request.headers.get("inference-header-content-length"))
    req = parse_json(body)
    if not isinstance(req, dict) or not isinstance(req.get("inputs"), list) or not req["inputs"]:
        raise ValidationError("an inference request needs 'inputs': a non-empty list of tensors")
    params = _parameters(req.get("parameters"), "parameters")
    _wanted_outputs(req.get("outputs"))  # a malformed list is refused before predicting
    decoded = _decode_inputs(req["inputs"], binary)
    sv = await _served(request, name, version)
    sent = [n for n, _ in client_inputs(sv.version.signature)]
    payload = to_payload(decoded, sv.spec.names, sv.spec.kinds, sent)
    result = await deps.runtime(request).predict(
        name,
        payload,
        version=version,
        key=params.get("routing_key"),
        started=started,
        on_invalid=input_policy(request, name),
    )
    return _response(name, req, result)


@router.post(
    "/models/{name}/infer",
    dependencies=[Depends(deps.require_predict)],
    openapi_extra=INFER_BODY,
    summary="Inference (routed)",
)
async def infer(request: Request, name: str) -> Response:
    return await _infer(request, name, None)


@router.post(
    "/models/{name}/versions/{version}/infer",
    dependencies=[Depends(deps.require_predict)],
    openapi_extra=INFER_BODY,
    summary="Inference with one version",
)
async def infer_version(request: Request, name: str, version: deps.VersionPath) -> Response:
    return await _infer(request, name, version)
