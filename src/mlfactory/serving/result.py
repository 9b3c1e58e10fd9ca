"""One request's answer, put together from the groups of rows each version answered."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mlfactory.inputs import Batch
from mlfactory.serving.prepare import Group

Outputs = tuple[np.ndarray, np.ndarray | None]  # (predictions, class probabilities)


@dataclass
class PredictResult:
    """One request's answer: per-row predictions, probabilities, versions, routes and request ids."""

    model: str
    predictions: np.ndarray
    probabilities: np.ndarray | None
    classes: list[Any] | None
    versions: np.ndarray
    routes: list[str]
    request_ids: list[str]
    feature_status: list[str | None] | None = None  # per row, when a version looked features up online
    input_violations: list[list[str]] | None = None  # per row, the declared rules it broke (flag mode)
    route_revision: int | None = None  # routed answers: the revision of the route table that routed them

    @property
    def version(self) -> int | None:
        """The version that answered every row, or None when rows went to several."""
        first = int(self.versions[0])
        return first if bool((self.versions == first).all()) else None


def assemble(
    name: str, n: int, groups: list[Group], outs: list[Outputs], request_ids: list[str]
) -> PredictResult:
    """The answer of ``n`` rows from each group's outputs, in request order.

    Predictions keep their dtype when every version gives the same one (else objects); probabilities are
    kept only when every version gives as many columns.
    """
    if len(groups) == 1:
        sv, route, _ = groups[0]
        pred, proba = outs[0]
        return PredictResult(name, pred, proba, sv.classes, np.full(n, sv.number), [route] * n, request_ids)
    dtypes = {np.asarray(p).dtype for p, _ in outs}
    pred_all = np.empty(n, dtype=dtypes.pop() if len(dtypes) == 1 else object)
    widths = {None if p is None else p.shape[1] for _, p in outs}
    width = widths.pop() if len(widths) == 1 else None
    proba_all = np.empty((n, width)) if width is not None else None
    versions = np.empty(n, dtype=np.int64)
    routes: list[str] = [""] * n
    for group, (pred, proba) in zip(groups, outs, strict=True):
        at = slice(None) if group.rows is None else group.rows
        pred_all[at] = pred
        if proba_all is not None:
            proba_all[at] = proba
        versions[at] = group.served.number
        for i in group.positions(n):
            routes[i] = group.route
    return PredictResult(name, pred_all, proba_all, groups[0].served.classes, versions, routes, request_ids)


def violations(n: int, groups: list[Group], subs: list[Batch]) -> list[list[str]] | None:
    """Per request row, the declared rules it broke, when any row was flagged (else None)."""
    if all(b.violations is None for b in subs):
        return None
    if len(groups) == 1:
        return subs[0].flagged()
    out: list[list[str]] = [[] for _ in range(n)]
    for group, batch in zip(groups, subs, strict=True):
        flagged = batch.flagged()
        if flagged is not None:
            for i, rules in zip(group.positions(n), flagged, strict=True):
                out[i] = rules
    return out
