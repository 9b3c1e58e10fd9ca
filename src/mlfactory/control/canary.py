"""Canary analysis: challenger against champion on the same live traffic, with tests and minimum samples."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from mlfactory.config import CompareConfig, RolloutConfig
from mlfactory.control.plan import CanaryPlan
from mlfactory.control.regression_canary import ERROR_METRICS, error_status, loss_sums
from mlfactory.control.stats import (
    distribution_shift,
    hits,
    numeric_shift,
    planned_rows,
    sequential_difference,
)

Status = Literal["ok", "regressed", "insufficient"]
Decision = Literal["promote", "rollback", "wait", "inconclusive"]
QUALITY = frozenset({"accuracy", *ERROR_METRICS})  # metrics judged on labelled rows
REGRESSOR_ERROR = CompareConfig(metric="mae", max_regression=0.05, relative=True)


@dataclass(frozen=True)
class Check:
    metric: str
    challenger: float | None
    champion: float | None
    regression: float | None
    p_value: float | None
    status: Status
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    reason: str
    checks: list[Check] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "reason": self.reason,
            "rows": self.rows,
            "checks": [c.to_dict() for c in self.checks],
        }


def _accuracy(frame: pd.DataFrame, classes: list[Any] | None) -> tuple[int, int]:
    labelled = frame[frame["label"].notna()] if "label" in frame else frame.iloc[0:0]
    if labelled.empty:
        return 0, 0
    return int(hits(labelled["prediction"], labelled["label"], classes).sum()), len(labelled)


def _scale(limit: float) -> float:
    """The mixture's spread: differences of about twice the allowed regression are the ones that matter."""
    return max(2 * limit, 0.01)


def canary_plan(
    policy: RolloutConfig, accuracy: float | None, task: str = "classification"
) -> CanaryPlan | None:
    """How many labelled canary rows the accuracy comparison needs (at ``accuracy`` for the champion): to
    roll back a challenger worse by twice the allowed regression, and to promote one as good as the
    champion, each with the policy's power; and what that means in requests at the canary's weight. None
    when the policy does not compare accuracy (a regressor's never does)."""
    compared = comparisons(policy, task)
    limit = next((c.max_regression for c in compared if c.metric == "accuracy"), None)
    if limit is None:
        return None
    rate = min(max(accuracy if accuracy is not None else 0.9, 0.05), 0.99)
    weight = policy.canary_weight / 100
    args = {"weight": weight, "alpha": policy.significance, "power": policy.power, "scale": _scale(limit)}
    rollback = planned_rows(rate, 2 * limit, **args)
    promote = planned_rows(rate, max(limit, 0.005), **args)
    return CanaryPlan(
        metric="accuracy",
        champion_accuracy=rate,
        allowed_regression=limit,
        power=policy.power,
        labelled_canary_rows_to_catch_2x_regression=rollback,
        labelled_canary_rows_to_promote_an_equal_model=promote,
        labelled_requests_to_catch_2x_regression=round(rollback / weight),
    )


def accuracy_status(
    hits_c: ArrayLike,
    n_c: ArrayLike,
    hits_p: ArrayLike,
    n_p: ArrayLike,
    *,
    limit: float,
    policy: RolloutConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The accuracy comparison on counts, vectorized over trials or looks: ``regressed`` when the challenger
    is shown worse at all, ``ok`` when it is shown no worse than ``limit`` below the champion
    (non-inferiority), ``insufficient`` otherwise or below ``min_labelled_rows`` per side; both tests with
    always-valid p-values, so looking after every row keeps their error rates.

    Returns:
        (status, p-value that it is worse, p-value that it is worse by more than ``limit``).
    """
    nc, np_ = np.asarray(n_c), np.asarray(n_p)
    enough = np.minimum(nc, np_) >= policy.min_labelled_rows
    worse, p_worse = sequential_difference(hits_c, n_c, hits_p, n_p, null=0.0, scale=_scale(limit))
    within, p_inferior = sequential_difference(hits_c, n_c, hits_p, n_p, null=-limit, scale=_scale(limit))
    alpha = policy.significance
    status = np.where(
        enough & (worse < 0) & (p_worse <= alpha),
        "regressed",
        np.where(enough & (within > 0) & (p_inferior <= alpha), "ok", "insufficient"),
    )
    return status, p_worse, p_inferior


def _accuracy_check(
    limit: float, policy: RolloutConfig, chal: pd.DataFrame, champ: pd.DataFrame, classes: list[Any] | None
) -> Check:
    hc, nc = _accuracy(chal, classes)
    hp, np_ = _accuracy(champ, classes)
    if min(nc, np_) < policy.min_labelled_rows:
        need = policy.min_labelled_rows
        detail = f"{nc} labelled canary rows and {np_} labelled production rows; need {need} each"
        return Check("accuracy", None, None, None, None, "insufficient", detail)
    status, p_worse, p_inferior = (
        x.item() for x in accuracy_status(hc, nc, hp, np_, limit=limit, policy=policy)
    )
    ac, ap = hc / nc, hp / np_
    shown = f"accuracy {ac:.3f} vs {ap:.3f} on {nc}/{np_} labelled rows"
    if status == "regressed":
        return Check("accuracy", ac, ap, ap - ac, p_worse, "regressed", f"{shown}: worse (p={p_worse:.3g})")
    if status == "ok":
        detail = f"{shown}: no worse than {limit} below the champion (p={p_inferior:.3g})"
        return Check("accuracy", ac, ap, ap - ac, p_inferior, "ok", detail)
    planned = canary_plan(policy, ap)
    plan = planned.labelled_canary_rows_to_promote_an_equal_model if planned is not None else None
    detail = (
        f"{shown}: not yet shown within {limit} of the champion (p={p_inferior:.3g}; "
        f"about {plan} labelled canary rows decide for an equal model)"
    )
    return Check("accuracy", ac, ap, ap - ac, p_inferior, "insufficient", detail)


def _error_check(
    limit: float,
    policy: RolloutConfig,
    errors: dict[str, tuple[int, int]],
    chal: pd.DataFrame,
    champ: pd.DataFrame,
) -> Check:
    """Roll back when the challenger fails significantly more rows (always-valid p-value); pass when its
    error rate is within the allowed rise (the canary's minimum rows are the evidence it needs)."""
    ec, nc = errors.get("challenger", (0, len(chal)))
    ep, np_ = errors.get("champion", (0, len(champ)))
    rise, p = sequential_difference(ec, nc, ep, np_, null=0.0, scale=_scale(limit))
    shown = f"error rate {ec}/{nc} vs {ep}/{np_}"
    if rise > 0 and p <= policy.significance:
        return Check(
            "error_rate",
            ec / max(nc, 1),
            ep / max(np_, 1),
            float(rise),
            float(p),
            "regressed",
            f"{shown} (p={p:.3g})",
        )
    status: Status = "ok" if rise <= limit else "insufficient"
    detail = f"{shown} (p={p:.3g}, allowed rise {limit})"
    return Check("error_rate", ec / max(nc, 1), ep / max(np_, 1), float(rise), float(p), status, detail)


def comparisons(policy: RolloutConfig, task: str) -> list[CompareConfig]:
    """The metrics a canary compares. A regressor has no accuracy: when its policy left ``compare`` at the
    default, the default's accuracy becomes mean absolute error allowed 5% above the champion's (a bound
    without the label's unit); a project file that lists accuracy for a regressor is refused at load."""
    if task != "regression" or "compare" in policy.model_fields_set:
        return list(policy.compare)
    return [REGRESSOR_ERROR if c.metric == "accuracy" else c for c in policy.compare]


def _error_metric_check(
    c: CompareConfig, policy: RolloutConfig, chal: pd.DataFrame, champ: pd.DataFrame
) -> Check:
    """A regressor's error (``mae`` or ``rmse``): the challenger's against the champion's, labelled rows."""
    sc, sp = loss_sums(chal, c.metric), loss_sums(champ, c.metric)
    nc, np_ = int(np.asarray(sc.rows)), int(np.asarray(sp.rows))
    allowed = f"{c.max_regression:.0%} of the champion's" if c.relative else f"{c.max_regression:g}"
    if min(nc, np_) < policy.min_labelled_rows:
        need = policy.min_labelled_rows
        detail = f"{nc} labelled canary rows and {np_} labelled production rows; need {need} each"
        return Check(c.metric, None, None, None, None, "insufficient", detail)
    status, p_worse, p_inferior, vc, vp = (
        x.item()
        for x in error_status(c.metric, sc, sp, limit=c.max_regression, relative=c.relative, policy=policy)
    )
    shown = f"{c.metric} {vc:.4g} vs {vp:.4g} on {nc}/{np_} labelled rows"
    if status == "regressed":
        return Check(c.metric, vc, vp, vc - vp, p_worse, "regressed", f"{shown}: larger (p={p_worse:.3g})")
    if status == "ok":
        detail = f"{shown}: at most {allowed} above the champion's (p={p_inferior:.3g})"
        return Check(c.metric, vc, vp, vc - vp, p_inferior, "ok", detail)
    detail = f"{shown}: not yet shown within {allowed} above the champion's (p={p_inferior:.3g})"
    return Check(c.metric, vc, vp, vc - vp, p_inferior, "insufficient", detail)


def _check(
    c: CompareConfig,
    policy: RolloutConfig,
    chal: pd.DataFrame,
    champ: pd.DataFrame,
    errors: dict[str, tuple[int, int]],
    classes: list[Any] | None,
    task: str,
) -> Check:
    metric, limit = c.metric, c.max_regression
    if metric in ERROR_METRICS:
        return _error_metric_check(c, policy, chal, champ)
    if metric == "accuracy":
        return _accuracy_check(limit, policy, chal, champ, classes)
    if metric == "error_rate":
        return _error_check(limit, policy, errors, chal, champ)
    if metric == "latency_p95_ms":
        if chal.empty or champ.empty:
            return Check(metric, None, None, None, None, "insufficient", "no rows yet")
        c95 = float(np.percentile(chal["latency_ms"], 95))
        p95 = float(np.percentile(champ["latency_ms"], 95))
        rise = c95 - p95
        return Check(
            metric,
            c95,
            p95,
            rise,
            None,
            "regressed" if rise > limit else "ok",
            f"p95 latency {c95:.1f} ms vs {p95:.1f} ms (allowed rise {limit} ms)",
        )
    shift = numeric_shift if task == "regression" else distribution_shift
    js, p = shift(chal["prediction"].tolist(), champ["prediction"].tolist())
    bad = js > limit and p < policy.significance
    return Check(
        metric,
        js,
        0.0,
        js,
        p,
        "regressed" if bad else "ok",
        f"prediction distribution Jensen-Shannon distance {js:.3f} (p={p:.3g}, allowed {limit})",
    )


def analyze_canary(
    challenger: pd.DataFrame,
    champion: pd.DataFrame,
    policy: RolloutConfig,
    *,
    elapsed_s: float,
    errors: dict[str, tuple[int, int]] | None = None,
    classes: list[Any] | None = None,
    task: str = "classification",
) -> Verdict:
    """Decide a canary from logged rows of both versions in the same window (with ``label`` joined in).

    Roll back at once on a significant regression; promote only when the minimum rows and duration are
    reached and every compared metric is ``ok``; otherwise wait, and say ``inconclusive`` once the canary
    has run longer than ``max_canary_duration`` without the evidence (the policy's
    ``canary_inconclusive`` then decides). A classifier's labelled rows are compared on accuracy (any
    number of classes), a regressor's on its errors (:func:`comparisons`).
    """
    errors = errors or {}
    rows = {"challenger": len(challenger), "champion": len(champion)}
    checks = [
        _check(c, policy, challenger, champion, errors, classes, task) for c in comparisons(policy, task)
    ]
    regressed = [c for c in checks if c.status == "regressed"]
    if regressed:
        return Verdict("rollback", "; ".join(c.detail for c in regressed), checks, rows)
    waiting = []
    if len(challenger) < policy.min_canary_rows:
        waiting.append(f"{len(challenger)}/{policy.min_canary_rows} canary rows")
    if elapsed_s < policy.min_canary_duration:
        waiting.append(f"{elapsed_s:.0f}/{policy.min_canary_duration:.0f} s")
    waiting += [c.detail for c in checks if c.status == "insufficient"]
    if waiting:
        if elapsed_s >= policy.max_canary_duration:
            return Verdict(
                "inconclusive",
                f"not enough evidence after the maximum duration ({policy.max_canary_duration:.0f} s): "
                + "; ".join(waiting),
                checks,
                rows,
            )
        return Verdict("wait", "; ".join(waiting), checks, rows)
    unjudged = "" if QUALITY & {c.metric for c in checks} else " (no metric on labelled rows is compared)"
    return Verdict(
        "promote",
        "no compared metric regressed: " + "; ".join(c.detail for c in checks) + unjudged,
        checks,
        rows,
    )
