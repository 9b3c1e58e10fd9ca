"""Seeded simulations of drift decisions: many trials per call, run through the drift core on counts.

Every trial is one column: a reference sample profiled as a model version stores it, and a window counted
against it, so hundreds of trials share one vectorized pass of :func:`numeric_drift` or
:func:`categorical_drift`. Categorical windows are drawn as multinomial counts, so their cost does not grow
with the window. ``python tests/unit/monitoring/drift_simulation.py`` prints the full tables.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np

from mlfactory.config import MonitoringConfig
from mlfactory.data.profile import numeric_reference
from mlfactory.monitoring.drift import ColumnDrift, categorical_drift, numeric_drift
from mlfactory.monitoring.reference import ColumnReference
from mlfactory.monitoring.window_counts import CategoricalCounts, NumericCounts

Draw = Callable[[np.random.Generator, int], np.ndarray]
SIZES = (200, 1_000, 5_000, 50_000)


def _zeros90(rng: np.random.Generator, n: int, scale: float = 1.0) -> np.ndarray:
    return np.where(rng.random(n) < 0.9, 0.0, rng.exponential(scale, n))


NUMERIC: dict[str, Draw] = {
    "normal": lambda rng, n: rng.normal(size=n),
    "lognormal": lambda rng, n: rng.lognormal(size=n),
    "counts with ties": lambda rng, n: rng.poisson(3.0, n).astype("float64"),
    "mostly zero": _zeros90,
    "0/1 indicator": lambda rng, n: (rng.random(n) < 0.298).astype("float64"),
}
NUMERIC_SHIFTS: dict[str, tuple[Draw, Draw]] = {
    "mean +0.2 SD": (NUMERIC["normal"], lambda rng, n: rng.normal(0.2, 1.0, n)),
    "mean +0.5 SD": (NUMERIC["normal"], lambda rng, n: rng.normal(0.5, 1.0, n)),
    "variance x1.5": (NUMERIC["normal"], lambda rng, n: rng.normal(0.0, np.sqrt(1.5), n)),
    "0/1 share 29.8% -> 36.4%": (
        NUMERIC["0/1 indicator"],
        lambda rng, n: (rng.random(n) < 0.364).astype("float64"),
    ),
}


def _geometric(k: int, ratio: float) -> np.ndarray:
    p = ratio ** np.arange(k)
    return p / p.sum()


SKEWED = np.array([0.4, 0.3, 0.2, 0.1])
CATEGORICAL: dict[str, np.ndarray] = {
    "balanced (4)": np.full(4, 0.25),
    "skewed (4)": SKEWED,
    "binary 30/70": np.array([0.3, 0.7]),
    "50 categories (0.9^k)": _geometric(50, 0.9),
}
# (reference shares, window shares); a last window share beyond the reference's is a new category
CATEGORICAL_SHIFTS: dict[str, tuple[np.ndarray, np.ndarray]] = {
    "one of four shares +10 points": (np.full(4, 0.25), np.array([0.35, 0.25, 0.25, 0.15])),
    "skewed: 10% -> 20%": (SKEWED, np.append(SKEWED[:3] * 0.8 / 0.9, 0.2)),
    "binary 30% -> 40%": (np.array([0.3, 0.7]), np.array([0.4, 0.6])),
    "new category at 2%": (SKEWED, np.append(SKEWED * 0.98, 0.02)),
    "new category at 10%": (SKEWED, np.append(SKEWED * 0.9, 0.1)),
}


def numeric_trials(
    ref_draw: Draw,
    cur_draw: Draw,
    n: int,
    trials: int,
    seed: int,
    n_ref: int | None = None,
    settings: MonitoringConfig | None = None,
) -> list[ColumnDrift]:
    """``trials`` checks of a window of ``n`` rows against a reference of ``n_ref`` (default ``n``) rows."""
    rng = np.random.default_rng(seed)
    refs, curs = [], []
    for _ in range(trials):
        ref = numeric_reference(ref_draw(rng, n_ref or n))
        edges = np.asarray(ref["edges"])
        acc = NumericCounts(edges, np.zeros(len(edges) + 1, dtype=np.int64), np.zeros(len(edges) - 1))
        if ref["values"]:
            acc.values = np.asarray(ref["values"])
            acc.value_counts = np.zeros(len(acc.values), dtype=np.int64)
        acc.add(cur_draw(rng, n))
        refs.append(ColumnReference.from_json(ref))
        curs.append(acc)
    return numeric_drift([f"t{i}" for i in range(trials)], refs, curs, settings or MonitoringConfig())


def categorical_trials(
    ref_shares: np.ndarray,
    cur_shares: np.ndarray,
    n: int,
    trials: int,
    seed: int,
    n_ref: int | None = None,
    settings: MonitoringConfig | None = None,
) -> list[ColumnDrift]:
    """``trials`` checks of multinomial windows; values the reference sample never drew are new to it."""
    rng = np.random.default_rng(seed)
    keys = [f"v{j}" for j in range(max(len(ref_shares), len(cur_shares)))]
    ref_p = np.zeros(len(keys))
    ref_p[: len(ref_shares)] = ref_shares
    cur_p = np.zeros(len(keys))
    cur_p[: len(cur_shares)] = cur_shares
    ref_counts = rng.multinomial(n_ref or n, ref_p, size=trials)
    cur_counts = rng.multinomial(n, cur_p, size=trials)
    refs, curs = [], []
    for r, c in zip(ref_counts, cur_counts, strict=True):
        freq = {k: int(x) for k, x in zip(keys, r, strict=True) if x > 0}
        refs.append(ColumnReference(kind="categorical", frequencies=freq, other=0, count=int(r.sum())))
        counts = Counter({k: int(x) for k, x in zip(keys, c, strict=True) if x > 0})
        curs.append(CategoricalCounts(set(freq), counts, seen=True))
    return categorical_drift([f"t{i}" for i in range(trials)], refs, curs, settings or MonitoringConfig())


def rate(results: list[ColumnDrift]) -> float:
    """The share of trials that flagged drift."""
    return float(np.mean([bool(r.drifted) for r in results]))


def significant(results: list[ColumnDrift], alpha: float = 0.05) -> float:
    """The share of trials whose test alone rejected (before the minimum effect)."""
    return float(np.mean([r.p_value is not None and r.p_value < alpha for r in results]))


def _row(name: str, cells: list[list[ColumnDrift]]) -> str:
    rates = "  ".join(f"{rate(c):6.1%}/{significant(c):5.1%}" for c in cells)
    return f"{name:28} {rates}  {cells[-1][0].method}"


def tables(trials: int = 200, categorical: int = 2000) -> None:  # pragma: no cover - the README's tables
    """Print false-alarm and power tables over :data:`SIZES` (numeric cells at 50,000 rows: 200 trials)."""

    def count(n: int) -> int:
        return min(trials, 200) if n >= 50_000 else trials

    print(f"false alarms (no drift), alpha = 5%: flagged / test alone significant; {trials} numeric trials")
    for name, draw in NUMERIC.items():
        print(_row(name, [numeric_trials(draw, draw, n, count(n), seed=n) for n in SIZES]))
    for name, p in CATEGORICAL.items():
        print(_row(name, [categorical_trials(p, p, n, categorical, seed=n) for n in SIZES]))
    print("power (share of windows flagged)")
    for name, (a, b) in NUMERIC_SHIFTS.items():
        cells = [numeric_trials(a, b, n, count(n), seed=n + 1) for n in SIZES]
        print(f"{name:28}", "  ".join(f"{rate(c):13.1%}" for c in cells))
    for name, (pa, pb) in CATEGORICAL_SHIFTS.items():
        cells = [categorical_trials(pa, pb, n, categorical, seed=n + 1) for n in SIZES]
        print(f"{name:28}", "  ".join(f"{rate(c):13.1%}" for c in cells))


if __name__ == "__main__":  # pragma: no cover
    import sys

    tables(*(int(a) for a in sys.argv[1:3]))
