"""MLflow's scoring protocol: ``POST /invocations`` (the default model) and ``/models/{name}/invocations``.

JSON bodies carry exactly one of ``dataframe_split`` (``{"columns": [...], "data": [[...]]}``),
``dataframe_records`` (``[{col: value}]``), ``instances`` or ``inputs`` (records, columns, or rows in feature
order), plus optional ``params`` (ignored); ``text/csv`` bodies are a CSV table with a header. The answer is
``{"predictions": [...]}``, plus ``input_violations`` (per row, the declared rules it broke) when the model
answers under ``on_invalid_input: flag`` and a row broke one; errors also carry MLflow's ``error_code`` and
``message``. In CSV bodies, as in any table, an empty cell is a missing value and numbers in a text column
are its text.
"""

from __future__ import annotations

import io
import time
from typing import Any

import pandas as pd
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from mlfactory.errors import ConfigError, ValidationError
from mlfactory.inputs import Columns, Payload, Records, Rows, parse_json
from mlfactory.server import deps
from mlfactory.server.answers import input_policy, jsonable

router = APIRouter(tags=["mlflow scoring"])
FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
CSV_TYPES = ("text/csv", "application/csv")
_ROWS = {"type": "array", "items": {"type": "object"}, "description": "one object per row"}
INVOCATIONS_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "exactly one of dataframe_split, dataframe_records, instances, inputs",
                    "properties": {
                        "dataframe_split": {
                            "type": "object",
                            "required": ["data"],
                            "properties": {
                                "columns": {"type": "array", "items": {"type": "string"}},
                                "data": {"type": "array", "items": {"type": "array"}},
                            },
                        },
                        "dataframe_records": _ROWS,
                        "instances": {"description": "records, rows in feature order, or column → values"},
                        "inputs": {"description": "records, rows in feature order, or column → values"},
                        "params": {"type": "object", "description": "ignored"},
                    },
                },
                "example": {"dataframe_records": [{"n_links": 3, "subject": "hi", "body": "hello"}]},
            },
            "text/csv": {"schema": {"type": "string", "description": "a table with a header row"}},
        },
    }
}


def _flexible(value: Any, key: str) -> Payload:
    if isinstance(value, dict):
        return Columns(value)
    if isinstance(value, list) and value:
        if all(isinstance(v, dict) for v in value):
            return Records(value)
        if all(isinstance(v, list) for v in value):
            return Rows(value)
    raise ValidationError(
        f"'{key}' must be a list of records, a list of rows in feature order, or an object of column → values"
    )


def json_payload(body: Any) -> Payload:
    """The rows of an MLflow JSON body, with errors naming the allowed keys."""
    if not isinstance(body, dict):
        raise ValidationError(f"the body must be a JSON object with exactly one of {', '.join(FORMATS)}")
    given = [k for k in FORMATS if k in body]
    if len(given) != 1:
        raise ValidationError(f"send exactly one of {', '.join(FORMATS)}; got keys {sorted(body)}")
    key = given[0]
    value = body[key]
    if key == "dataframe_split":
        if not isinstance(value, dict) or not isinstance(value.get("data"), list):
            raise ValidationError('\'dataframe_split\' must be {"columns": [...], "data": [[...], ...]}')
        columns = value.get("columns")
        if columns is not None and not (
            isinstance(columns, list) and all(isinstance(c, str) for c in columns)
        ):
            raise ValidationError("'dataframe_split.columns' must be a list of column names")
        return Rows(value["data"], columns)
    if key == "dataframe_records":
        if not isinstance(value, list):
            raise ValidationError("'dataframe_records' must be a list of objects (one per row)")
        return Records(value)
    return _flexible(value, key)


def csv_payload(body: bytes) -> Payload:
    if not body.strip():
        raise ValidationError("the request body is empty; send a CSV table with a header row")
    try:
        frame = pd.read_csv(io.BytesIO(body))
    except (ValueError, pd.errors.ParserError) as exc:
        raise ValidationError(f"malformed CSV: {str(exc).splitlines()[0]}") from None
    return Columns(
        {
            c: frame[c].to_numpy()
            if frame[c].dtype.kind in "iufb"
            else frame[c].astype(object).where(frame[c].notna(), None).tolist()  # an empty cell is null
            for c in frame.columns
        },
        strings_are_numbers=True,
        table=True,
    )


async def _invoke(request: Request, name: str) -> Response:
    started = time.perf_counter()
    body = await deps.read_body(request)
    ctype = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if ctype in CSV_TYPES:
        payload = csv_payload(body)
    elif ctype in ("application/json", ""):
        payload = json_payload(parse_json(body))
    else:
        raise ValidationError(f"content type '{ctype}' is not supported; use application/json or text/csv")
    result = await deps.runtime(request).predict(
        name, payload, started=started, on_invalid=input_policy(request, name)
    )
    answer: dict[str, Any] = {"predictions": jsonable(result.predictions)}
    if result.input_violations is not None:
        answer["input_violations"] = result.input_violations
    return deps.json_response(answer)


@router.post(
    "/invocations",
    dependencies=[Depends(deps.require_predict)],
    openapi_extra=INVOCATIONS_BODY,
    summary="MLflow scoring protocol, default model",
)
async def invocations(request: Request) -> Response:
    rt = deps.runtime(request)
    name = deps.server_config(request).default_model
    if name is None:
        if len(rt.tables) != 1:
            raise ConfigError(
                f"/invocations needs one default model, but this server serves "
                f"{len(rt.tables)} ({', '.join(sorted(rt.tables)) or 'none'}); set "
                "server.default_model or use /models/NAME/invocations"
            )
        name = next(iter(rt.tables))
    return await _invoke(request, name)


@router.post(
    "/models/{name}/invocations",
    dependencies=[Depends(deps.require_predict)],
    openapi_extra=INVOCATIONS_BODY,
    summary="MLflow scoring protocol, one model",
)
async def model_invocations(request: Request, name: str) -> Response:
    return await _invoke(request, name)
