"""Work for the executor tests: module-level functions, so each executor's workers import them by name."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np


def seeded_arrays(count: int) -> list[np.ndarray]:
    """``count`` arrays of different lengths from one seed: the same input for every executor."""
    rng = np.random.default_rng(7)
    return [rng.normal(size=(int(rng.integers(50, 400)), 4)) for _ in range(count)]


def summary(array: np.ndarray) -> tuple[float, float, int]:
    """A deterministic reduction of one array (the same bits wherever it runs)."""
    centred = array - array.mean(axis=0)
    return float(np.linalg.norm(centred)), float(np.sort(array, axis=None)[len(array) // 2]), len(array)


def fails_on_three(x: int) -> int:
    if x == 3:
        raise ValueError(f"no threes please (got {x})")
    return x * 10


def add(a: int, b: int) -> int:
    return a + b


def pid(_: object) -> int:
    return os.getpid()


def dies_once(marker: str) -> str:
    """Kills its own worker process the first time it runs (leaving ``marker``), succeeds after."""
    path = Path(marker)
    if not path.exists():
        path.write_text("died here once")
        os.kill(os.getpid(), signal.SIGKILL)
    return "survived"


def grid_search_best(n_jobs: int) -> dict[str, object]:
    """A seeded scikit-learn grid search with ``n_jobs`` workers (under whatever joblib backend is active)."""
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV

    x, y = make_classification(n_samples=300, n_features=8, random_state=0)
    search = GridSearchCV(
        LogisticRegression(max_iter=500), {"C": [0.01, 0.1, 1.0, 10.0]}, cv=3, n_jobs=n_jobs
    )
    search.fit(x, y)
    return {"params": search.best_params_, "scores": search.cv_results_["mean_test_score"].round(12).tolist()}
