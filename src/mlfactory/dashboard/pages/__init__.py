"""The dashboard's routes, one module per page; each reads the project only through Project methods."""

from __future__ import annotations

from fastapi import APIRouter

from mlfactory.dashboard.pages import (
    audit,
    data,
    deployments,
    events,
    lineage,
    login,
    models,
    monitoring,
    overview,
    runs,
)

router = APIRouter()
for _module in (overview, runs, models, lineage, deployments, monitoring, events, data, audit, login):
    router.include_router(_module.router)

__all__ = ["router"]
