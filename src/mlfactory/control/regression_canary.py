"""A regressor's canary: its mean absolute or root mean squared error against the champion's, on the
labelled rows of the same live traffic, by always-valid tests.

A regressor has no accuracy: the question is whether the challenger's errors are larger. Each side's rows
give a per-row loss (``|e|`` for ``mae``, ``e²`` for ``rmse``); the metric and its variance come from the
loss's mean and spread (for ``rmse`` by the delta method, ``Var √m ≈ Var m / 4m``). Two mixture sequential
tests decide, as for accuracy: the challenger is *regressed* when its error is shown larger at all, and
*ok* when it is shown no larger than the allowed regression above the champion's (non-inferiority). The
allowance is in the label's own unit, or with ``relative: true`` a share of the champion's error (a unit-free
bound for any target). Both p-values are always valid, so looking after every row keeps their error rates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from mlfactory.config import RolloutConfig
from mlfactory.control.stats import always_valid_p

ERROR_METRICS = frozenset({"mae", "rmse"})
SCALE_FLOOR = 0.02  # the mixture's spread: at least this share of the champion's error (an allowance of 0)


@dataclass(frozen=True)
class LossSums:
    """One side's labelled rows as sums of its per-row loss (vectorized: fields may be arrays of trials).

    Attributes:
        rows: labelled rows whose prediction and label are both numbers.
        total: Σ loss (``|e|`` for ``mae``, ``e²`` for ``rmse``).
        squares: Σ loss², for the loss's spread.
    """

    rows: ArrayLike
    total: ArrayLike
    squares: ArrayLike


def loss_sums(frame: pd.DataFrame, metric: str) -> LossSums:
    """The labelled rows of a logged frame (``prediction`` and ``label``) as sums of the metric's loss;
    rows whose prediction or label is not a number are left out."""
    if "label" not in frame or frame.empty:
        return LossSums(0, 0.0, 0.0)
    labelled = frame[frame["label"].notna()]
    err = pd.to_numeric(labelled["prediction"], errors="coerce").to_numpy(float) - pd.to_numeric(
        labelled["label"], errors="coerce"
    ).to_numpy(float)
    err = err[np.isfinite(err)]
    loss = np.abs(err) if metric == "mae" else np.square(err)
    return LossSums(len(loss), float(loss.sum()), float(np.square(loss).sum()))


def metric_value(metric: str, sums: LossSums) -> tuple[np.ndarray, np.ndarray]:
    """The metric of a side and the variance of that estimate (NaN without rows)."""
    n = np.asarray(sums.rows, dtype=float)
    safe = np.maximum(n, 1.0)
    mean = np.asarray(sums.total, dtype=float) / safe
    spread = np.maximum(np.asarray(sums.squares, dtype=float) / safe - mean * mean, 0.0)
    var_mean = spread / np.maximum(n - 1.0, 1.0)  # the sample variance over n
    if metric == "mae":
        value, var = mean, var_mean
    else:
        value = np.sqrt(mean)
        var = var_mean / np.maximum(4.0 * mean, 1e-300)
    return np.where(n > 0, value, np.nan), np.where(n > 0, var, np.nan)


def error_status(
    metric: str,
    challenger: LossSums,
    champion: LossSums,
    *,
    limit: float,
    relative: bool,
    policy: RolloutConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The comparison of one error metric, vectorized over trials or looks: ``regressed`` when the
    challenger's error is shown larger at all, ``ok`` when it is shown at most ``limit`` above the
    champion's (a share of it when ``relative``), ``insufficient`` otherwise or below
    ``min_labelled_rows`` per side.

    Returns:
        (status, p-value that it is worse, p-value that it is worse by more than the allowance,
        challenger's metric, champion's metric).
    """
    vc, var_c = metric_value(metric, challenger)
    vp, var_p = metric_value(metric, champion)
    factor = 1.0 + limit if relative else 1.0
    allowance = limit * vp if relative else np.full_like(vp, limit)
    scale = np.maximum(2.0 * allowance, SCALE_FLOOR * np.nan_to_num(vp, nan=0.0)) + 1e-12
    p_worse = always_valid_p(vc - vp, var_c + var_p, scale)
    beyond = vc - factor * vp - (0.0 if relative else limit)
    p_inferior = always_valid_p(beyond, var_c + factor * factor * var_p, scale)
    enough = np.minimum(np.asarray(challenger.rows), np.asarray(champion.rows)) >= policy.min_labelled_rows
    alpha = policy.significance
    status = np.where(
        enough & (vc > vp) & (p_worse <= alpha),
        "regressed",
        np.where(enough & (beyond < 0) & (p_inferior <= alpha), "ok", "insufficient"),
    )
    return status, p_worse, p_inferior, vc, vp
