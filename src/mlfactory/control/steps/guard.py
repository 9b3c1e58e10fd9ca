"""The guard window after promotion: production's accuracy (a regressor's error) held to the champion's during
the canary."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from mlfactory.config import PolicyConfig
from mlfactory.control import stats
from mlfactory.control.canary import REGRESSOR_ERROR, comparisons
from mlfactory.control.regression_canary import loss_sums, metric_value
from mlfactory.control.rollout import RolloutView
from mlfactory.control.stats import worse_proportion
from mlfactory.control.steps.base import Deps, Outcome, S, Step, classes_of, end, move
from mlfactory.entities import PRODUCTION


def guard(d: Deps, r: RolloutView, policy: PolicyConfig) -> Outcome:
    """Promoted: production's accuracy on ``guard_rows`` labelled rows against the champion's during the
    canary; without that evidence by ``guard_duration`` the window ends inconclusive and the policy's
    ``guard_inconclusive`` decides.

    Uses the prediction log (``traffic``), the registry, the rollout store and the clock.
    """
    assert r.challenger is not None
    rollout = policy.rollout
    if rollout.guard_rows == 0:
        done = move(d, r, S.IDLE, "no guard window (guard_rows: 0)")
        return Outcome(done, Step(r.model, done.state.value, "guard_passed", "no guard window"))
    now = d.clock()
    promoted = r.data.promoted_at or now
    regressor = r.data.baseline_metric is not None
    baseline = r.data.baseline_error if regressor else r.data.baseline_accuracy
    frame = d.need_traffic().with_feedback(r.model, version=r.challenger, route=PRODUCTION, since=promoted)
    rows = frame[frame["label"].notna()] if "label" in frame else frame
    need = max(rollout.guard_rows, rollout.min_labelled_rows)
    if baseline is not None and len(rows) >= need:
        test = _error_test if regressor else _test
        return test(d, r, policy, rows, baseline)
    elapsed = (now - promoted).total_seconds()
    if elapsed < rollout.guard_duration:
        why = f"{len(rows)}/{need} labelled rows since promotion"
        return Outcome(r, Step(r.model, r.state.value, "guarding", why))
    missing = (
        f"no baseline {r.data.baseline_metric or 'accuracy'} (the champion had no labelled rows during the "
        "canary)"
        if baseline is None
        else f"{len(rows)} of the {need} labelled rows it needs"
    )
    then = rollout.guard_inconclusive
    reason = f"guard window inconclusive after {elapsed:.0f} s: {missing}; policy guard_inconclusive: {then}"
    detail = {"rows": len(rows), "needed": need, "baseline": baseline, "inconclusive": then}
    if then == "rollback":
        return _roll_back(d, r, reason, detail)
    stays = f"{reason}, so {r.model}/{r.challenger} stays in production"
    done = move(d, r, S.IDLE, stays, payload=detail)
    return Outcome(done, Step(r.model, done.state.value, "guard_inconclusive", reason, detail))


def _test(d: Deps, r: RolloutView, policy: PolicyConfig, rows: pd.DataFrame, baseline: float) -> Outcome:
    """Roll back when production is significantly worse than ``baseline`` by more than the canary's
    allowed accuracy regression; close the window otherwise."""
    assert r.challenger is not None
    classes = classes_of(d.need_versions().get(r.model, r.challenger))
    n = len(rows)
    hits = int(stats.hits(rows["prediction"], rows["label"], classes).sum())
    drop, p = worse_proportion(hits, n, round(baseline * n), n)
    limit = next((c.max_regression for c in policy.rollout.compare if c.metric == "accuracy"), 0.02)
    detail = {"accuracy": hits / n, "baseline": baseline, "drop": drop, "p_value": p, "rows": n}
    if drop > limit and p < policy.rollout.significance:
        reason = (
            f"guard window: production accuracy {hits / n:.3f} vs {baseline:.3f} before promotion (p={p:.3g})"
        )
        return _roll_back(d, r, reason, detail)
    return _passed(d, r, f"accuracy {hits / n:.3f} on {n} labelled rows (baseline {baseline:.3f})", detail)


def _error_test(
    d: Deps, r: RolloutView, policy: PolicyConfig, rows: pd.DataFrame, baseline: float
) -> Outcome:
    """A regressor's guard: roll back when production's error (the canary's compared ``mae`` or ``rmse``)
    is significantly above the champion's during the canary by more than the canary's allowance (a
    one-sided z test, the baseline taken as measured on as many rows)."""
    assert r.challenger is not None and r.data.baseline_metric is not None
    metric = r.data.baseline_metric
    sums = loss_sums(rows, metric)
    value, var = (float(x) for x in metric_value(metric, sums))
    compared = comparisons(policy.rollout, "regression")
    rule = next((c for c in compared if c.metric == metric), REGRESSOR_ERROR)
    limit = rule.max_regression * baseline if rule.relative else rule.max_regression
    rise = value - baseline
    p = float(norm.sf(rise / np.sqrt(2 * var))) if var > 0 else float(rise <= 0)
    n = int(np.asarray(sums.rows))
    detail = {metric: value, "baseline": baseline, "rise": rise, "p_value": p, "rows": n}
    if rise > limit and p < policy.rollout.significance:
        reason = (
            f"guard window: production {metric} {value:.4g} vs {baseline:.4g} before promotion (p={p:.3g})"
        )
        return _roll_back(d, r, reason, detail)
    return _passed(d, r, f"{metric} {value:.4g} on {n} labelled rows (baseline {baseline:.4g})", detail)


def _passed(d: Deps, r: RolloutView, measured: str, detail: dict[str, Any]) -> Outcome:
    """Close the guard window: production held up."""
    done = move(d, r, S.IDLE, f"guard window passed: {measured}", payload=detail)
    return Outcome(done, Step(r.model, done.state.value, "guard_passed", "production held up", detail))


def _roll_back(d: Deps, r: RolloutView, reason: str, detail: dict[str, Any]) -> Outcome:
    """Move production back to the champion (unless someone already moved it) and end the rollout."""
    versions = d.need_versions()
    current = versions.champion(r.model)
    if current is not None and current.version == r.challenger:
        versions.rollback(r.model, reason=reason)
    idle = end(d, r, S.ROLLED_BACK, reason, detail, then="rolled back to the previous production version")
    return Outcome(idle, Step(r.model, idle.state.value, "guard_rollback", reason, detail))
