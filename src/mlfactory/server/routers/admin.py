"""Changing endpoints: routing policies (canary, A/B, shadow), reload. They need the token when one is set."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from mlfactory.server import deps

router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(deps.require_operator)])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: deps.Text = ""


class CanaryBody(_Body):
    version: deps.VersionNumber
    weight: float = Field(gt=0, le=100, description="percent of rows")
    key: deps.Text | None = None
    force: bool = False


class ShadowBody(_Body):
    version: deps.VersionNumber | None = Field(description="null stops the shadow")


class ABBody(_Body):
    variants: list[tuple[deps.VersionNumber, Annotated[float, Field(ge=0, le=100)]]] = Field(
        description="[[version, weight percent], ...], weights sum to 100"
    )
    key: deps.Text
    force: bool = False


async def _changed(request: Request, event: Any) -> dict[str, Any]:
    rt = deps.runtime(request)
    await asyncio.to_thread(rt.refresh)  # this replica at once; the others within reload_interval
    return {"event": event.id, "kind": event.kind, "routing": rt.status()["models"].get(event.model)}


@router.get("/routing/{name}", summary="A model's aliases, routing policy and traffic shares")
def status(request: Request, name: str) -> dict[str, Any]:
    return deps.project(request).routing(name)


@router.put("/routing/{name}/canary", summary="Send a share of rows to a version")
async def canary(request: Request, name: str, body: CanaryBody) -> dict[str, Any]:
    event = await asyncio.to_thread(
        deps.project(request).deploy_canary,
        name,
        body.version,
        weight=body.weight,
        key=body.key,
        reason=body.reason,
        force=body.force,
        actor=deps.actor(request),
    )
    return await _changed(request, event)


@router.put("/routing/{name}/ab", summary="Split all rows between versions, sticky by a request key")
async def ab(request: Request, name: str, body: ABBody) -> dict[str, Any]:
    event = await asyncio.to_thread(
        deps.project(request).deploy_ab,
        name,
        body.variants,
        key=body.key,
        reason=body.reason,
        force=body.force,
        actor=deps.actor(request),
    )
    return await _changed(request, event)


@router.put("/routing/{name}/shadow", summary="Give a version a copy of the traffic (answers only logged)")
async def shadow(request: Request, name: str, body: ShadowBody) -> dict[str, Any]:
    event = await asyncio.to_thread(
        deps.project(request).deploy_shadow, name, body.version, reason=body.reason, actor=deps.actor(request)
    )
    return await _changed(request, event)


@router.delete("/routing/{name}", summary="Remove canary, A/B and shadow: production takes everything")
async def clear(request: Request, name: str, reason: deps.Text = "") -> dict[str, Any]:
    event = await asyncio.to_thread(
        deps.project(request).deploy_clear, name, reason=reason, actor=deps.actor(request)
    )
    return await _changed(request, event)


@router.post("/reload", summary="Re-read aliases and routing policies now")
async def reload(request: Request) -> dict[str, Any]:
    return await asyncio.to_thread(deps.runtime(request).refresh)


@router.post("/flush", summary="Write the prediction log's queued rows now")
async def flush(request: Request) -> dict[str, Any]:
    log = deps.prediction_log(request)
    rows = await asyncio.to_thread(log.flush) if log is not None else 0
    return {"written_rows": rows}
