"""``POST /v1/feedback``: true labels for earlier request ids, checked against each model's label.

The body is read within ``server.max_body_bytes`` and validated by :class:`FeedbackBody`, whose JSON schema
(with an example) is what ``/openapi.json`` publishes, so a client generated from it sends what is accepted.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError

from mlfactory.errors import ValidationError
from mlfactory.inputs import parse_json
from mlfactory.server import deps

router = APIRouter(prefix="/v1", tags=["feedback"])


class FeedbackLabel(BaseModel):
    """One true label for a prediction the server answered."""

    model_config = ConfigDict(extra="forbid")
    request_id: deps.Text = Field(
        min_length=1, max_length=64, description="the request id the prediction answered with"
    )
    label: deps.Text | int | float | bool = Field(
        description="the true label, in the model's label type or as text"
    )


class FeedbackBody(BaseModel):
    """A batch of true labels; the batch is stored in one transaction."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "labels": [
                    {"request_id": "01JD8Z4K6M0000000000000001", "label": 1},
                    {"request_id": "01JD8Z4K6M0000000000000002", "label": 0},
                ],
                "source": "reviewers",
            }
        },
    )
    labels: list[FeedbackLabel] = Field(min_length=1)
    source: deps.Text | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="who produced the labels, e.g. 'reviewers'; start it with 'auto' for labels that came "
        "from the model's own decisions (the controller never trains on those)",
    )


class BadLabelAnswer(BaseModel):
    row: int
    request_id: str
    label: Any
    reason: str


class FeedbackAnswer(BaseModel):
    """What was stored: usable labels, request ids the prediction log does not know, and labels kept aside
    because they do not fit their model (only with ``on_invalid_labels: exclude``; otherwise such a batch
    is refused with 422 naming the rows)."""

    accepted: int
    unknown: list[str]
    unknown_count: int
    invalid: list[BadLabelAnswer]
    invalid_count: int


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON schema with its ``$defs`` references resolved in place (OpenAPI's request bodies
    cannot point into a schema's own ``$defs``)."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(schema)  # type: ignore[no-any-return]


BODY_SCHEMA = _inline(FeedbackBody.model_json_schema())
FEEDBACK_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": BODY_SCHEMA, "example": BODY_SCHEMA.pop("example")}},
    }
}


def _parse(raw: bytes) -> FeedbackBody:
    try:
        return FeedbackBody.model_validate(parse_json(raw))
    except PydanticError as exc:
        reasons = [
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
            for err in exc.errors(include_url=False)
        ]
        raise ValidationError(
            'the feedback body must be {"labels": [{"request_id": "...", "label": ...}, ...], '
            f'"source": "..."}}: {reasons[0]}{" …" if len(reasons) > 1 else ""}',
            reasons,
        ) from None


@router.post(
    "/feedback",
    dependencies=[Depends(deps.require_predictor)],
    summary="True labels for earlier request ids; unknown ids are reported back",
    response_model=FeedbackAnswer,
    openapi_extra=FEEDBACK_BODY,
    responses={422: {"description": "a malformed body, or labels that do not fit their model (rows named)"}},
)
async def feedback(request: Request) -> Response:
    body = _parse(await deps.read_body(request))
    log = deps.prediction_log(request)
    if log is None:
        raise ValidationError("this server does not keep a prediction log, so it cannot match feedback")
    result = await asyncio.to_thread(
        deps.project(request).feedback,
        [(row.request_id, row.label) for row in body.labels],
        actor=body.source or request.app.state.actor,
        log=log,
    )
    return deps.json_response(result.to_dict())
