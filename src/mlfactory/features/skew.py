"""Training/serving skew: the vectors the server used against an offline point-in-time recomputation."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from mlfactory.entities import NUMERIC_TYPES


def _same(a: Any, b: Any, numeric: bool, tol: float) -> tuple[bool, float | None]:
    a_null = a is None or (isinstance(a, float) and math.isnan(a)) or a is pd.NA
    b_null = b is None or (isinstance(b, float) and math.isnan(b)) or b is pd.NA
    if a_null or b_null:
        return a_null and b_null, None
    if numeric:
        diff = abs(float(a) - float(b))
        return diff <= tol * max(1.0, abs(float(b))), diff
    return str(a) == str(b), None


def compare(
    served: pd.DataFrame,
    offline: pd.DataFrame,
    features: Mapping[str, str],
    *,
    id_column: str = "request_id",
    tolerance: float = 1e-6,
    examples: int = 5,
) -> dict[str, Any]:
    """Per-feature mismatch rate and largest differences between two row-aligned frames.

    Args:
        served: what the server used, one row per prediction, with ``id_column`` and the features.
        offline: the recomputation for the same rows in the same order.
        features: feature name -> type (numbers compare with a relative tolerance, others exactly).
        id_column: the column naming each row in the examples.
        tolerance: relative tolerance for numbers.
        examples: how many of the largest (or first) mismatches to keep per feature.
    """
    if len(served) != len(offline):
        raise ValueError(f"served has {len(served)} rows but offline has {len(offline)}")
    ids = served[id_column].tolist() if id_column in served else list(range(len(served)))
    per: dict[str, Any] = {}
    for name, kind in features.items():
        numeric = kind in NUMERIC_TYPES
        a_col = served[name].tolist() if name in served else [None] * len(served)
        b_col = offline[name].tolist()
        bad: list[tuple[float, int]] = []
        for i, (a, b) in enumerate(zip(a_col, b_col, strict=True)):
            ok, diff = _same(a, b, numeric, tolerance)
            if not ok:
                bad.append((diff if diff is not None else math.inf, i))
        bad.sort(key=lambda d: -d[0])
        n = len(a_col)
        finite = [d for d, _ in bad if math.isfinite(d)]
        per[name] = {
            "compared": n,
            "mismatches": len(bad),
            "mismatch_rate": len(bad) / n if n else 0.0,
            "max_abs_diff": max(finite) if finite else None,
            "missing_on_one_side": len(bad) - len(finite),
            "examples": [
                {"id": str(ids[i]), "served": _plain(a_col[i]), "offline": _plain(b_col[i])}
                for _, i in bad[:examples]
            ],
        }
    rates = [p["mismatch_rate"] for p in per.values()]
    return {"rows": len(served), "features": per, "max_mismatch_rate": max(rates) if rates else 0.0}


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    if v is pd.NA:
        return None
    return v
