"""Going live: shadow, then a canary analysed against the champion, then promotion or rollback."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from mlfactory.config import PolicyConfig
from mlfactory.control import stats
from mlfactory.control.canary import Verdict, analyze_canary, canary_plan
from mlfactory.control.regression_canary import ERROR_METRICS, loss_sums, metric_value
from mlfactory.control.rollout import Baseline, RolloutView
from mlfactory.control.steps.base import (
    Deps,
    Outcome,
    S,
    Step,
    classes_of,
    failed_rows,
    load_failure,
    move,
    roll_back,
)
from mlfactory.entities import PRODUCTION


def _load_failed(d: Deps, r: RolloutView, since: datetime) -> Outcome | None:
    """Roll back when a server reported it could not load the challenger."""
    assert r.challenger is not None
    broken = load_failure(d, r.model, r.challenger, since)
    if broken is None:
        return None
    reason = f"challenger {r.model}/{r.challenger} failed to load on a server: {broken}"
    return roll_back(d, r, reason, {"load_failed": broken})


def gated(d: Deps, r: RolloutView, policy: PolicyConfig) -> Outcome:
    """Gated: the challenger goes to shadow first when the policy asks, straight to a canary otherwise.

    Uses the routing policy (``routes``), the registry and the clock.
    """
    assert r.challenger is not None
    if not policy.rollout.shadow:
        return start_canary(d, r, policy, "gates passed")
    d.need_routes().shadow(r.model, r.challenger, reason="controller: shadow first")
    moved = move(
        d,
        r,
        S.SHADOW,
        f"{r.model}/{r.challenger} sees a copy of traffic",
        data=dataclasses.replace(r.data, shadow_started=d.clock()),
    )
    return Outcome(moved, Step(r.model, moved.state.value, "shadow", "shadow started"))


def shadow(d: Deps, r: RolloutView, policy: PolicyConfig) -> Outcome:
    """Shadow: wait for ``shadow_min_rows`` shadow answers, then start the canary; roll back when the
    challenger cannot load or the shadow outlasts ``max_canary_duration`` without enough rows.

    Uses the event log, the prediction log (``traffic``), the routing policy and the clock.
    """
    assert r.challenger is not None
    now = d.clock()
    started = r.data.shadow_started or now
    broken = _load_failed(d, r, started)
    if broken is not None:
        return broken
    rows = d.need_traffic().answered(r.model, version=r.challenger, route="shadow", since=started)
    need = policy.rollout.shadow_min_rows
    if rows < need:
        if (now - started).total_seconds() > policy.rollout.max_canary_duration:
            return roll_back(d, r, f"shadow saw only {rows} rows before its maximum duration", {})
        return Outcome(r, Step(r.model, r.state.value, "waiting", f"{rows}/{need} shadow rows"))
    d.need_routes().shadow(r.model, None, reason="controller: shadow done")
    return start_canary(d, r, policy, f"shadow answered {rows} rows")


def start_canary(d: Deps, r: RolloutView, policy: PolicyConfig, why: str) -> Outcome:
    """Send the canary's share of traffic to the challenger, with the sample-size plan in the event."""
    assert r.challenger is not None
    rollout = policy.rollout
    d.need_routes().canary(
        r.model,
        r.challenger,
        weight=rollout.canary_weight,
        key=rollout.canary_key,
        reason="controller: canary",
    )
    champion = d.need_versions().champion(r.model)
    accuracy = champion.metrics.get("accuracy") if champion is not None else None
    task = champion.signature.task if champion is not None else "classification"
    plan = canary_plan(rollout, accuracy if isinstance(accuracy, float) else None, task)
    size = (
        f"; about {plan.labelled_canary_rows_to_catch_2x_regression} labelled canary rows catch a "
        f"challenger {2 * plan.allowed_regression:g} less accurate"
        if plan is not None
        else ""
    )
    moved = move(
        d,
        r,
        S.CANARY,
        f"{why}; {r.model}/{r.challenger} takes {rollout.canary_weight:g}%{size}",
        data=dataclasses.replace(r.data, canary_started=d.clock(), plan=plan),
        payload={"plan": plan.to_json() if plan is not None else {}},
    )
    return Outcome(moved, Step(r.model, moved.state.value, "canary", "canary started"))


def _accuracy(frame: pd.DataFrame, classes: list[Any] | None, minimum: int) -> float | None:
    """Accuracy on a frame's labelled rows, when it has at least ``minimum`` of them."""
    labelled = frame[frame["label"].notna()] if "label" in frame else frame.iloc[0:0]
    if len(labelled) < minimum:
        return None
    return float(stats.hits(labelled["prediction"], labelled["label"], classes).mean())


def _error_baseline(verdict: Verdict, champion: pd.DataFrame, minimum: int) -> Baseline:
    """A regressor's guard baseline: the champion's compared error during the canary (its mae when the
    canary compared none), from at least ``minimum`` labelled rows."""
    compared = next((c for c in verdict.checks if c.metric in ERROR_METRICS), None)
    if compared is not None and compared.champion is not None:
        return Baseline(metric=compared.metric, error=compared.champion)
    metric = compared.metric if compared is not None else "mae"
    sums = loss_sums(champion, metric)
    if int(np.asarray(sums.rows)) < minimum:
        return Baseline(metric=metric)
    return Baseline(metric=metric, error=float(metric_value(metric, sums)[0]))


def _verdict(d: Deps, r: RolloutView, policy: PolicyConfig) -> tuple[Verdict, Baseline]:
    """The canary analysis since the canary started, and the champion's accuracy (a regressor's: its
    compared error) over it, the guard window's baseline."""
    assert r.challenger is not None and r.champion is not None
    now = d.clock()
    since = r.data.canary_started or now
    traffic = d.need_traffic()
    sides = {
        "challenger": (r.challenger, "canary"),
        "champion": (r.champion, PRODUCTION),
    }
    frames = {
        side: traffic.with_feedback(r.model, version=v, route=route, since=since)
        for side, (v, route) in sides.items()
    }
    champion = d.need_versions().get(r.model, r.champion)
    classes = classes_of(champion)
    failed = failed_rows(d, r.model, since)
    errors = {
        side: (failed.get((v, route), 0), failed.get((v, route), 0) + len(frames[side]))
        for side, (v, route) in sides.items()
    }
    verdict = analyze_canary(
        frames["challenger"],
        frames["champion"],
        policy.rollout,
        elapsed_s=(now - since).total_seconds(),
        classes=classes,
        errors=errors,
        task=champion.signature.task,
    )
    if champion.signature.task == "regression":
        return verdict, _error_baseline(verdict, frames["champion"], policy.rollout.min_labelled_rows)
    baseline = next((c.champion for c in verdict.checks if c.metric == "accuracy"), None)
    if baseline is None:
        baseline = _accuracy(frames["champion"], classes, policy.rollout.min_labelled_rows)
    return verdict, Baseline(baseline)


def canary(d: Deps, r: RolloutView, policy: PolicyConfig) -> Outcome:
    """Canary: promote, roll back or wait on the analysis; an inconclusive canary (out of time) does what
    the policy's ``canary_inconclusive`` says; a challenger that cannot load is rolled back.

    Uses the event log, the prediction log, the registry, the routing policy and the clock.
    """
    broken = _load_failed(d, r, r.data.canary_started or d.clock())
    if broken is not None:
        return broken
    verdict, baseline = _verdict(d, r, policy)
    if verdict.decision == "wait":
        return Outcome(r, Step(r.model, r.state.value, "waiting", verdict.reason, verdict.to_dict()))
    if verdict.decision == "rollback":
        return roll_back(d, r, f"canary regressed: {verdict.reason}", verdict.to_dict())
    reason = verdict.reason
    payload = verdict.to_dict()
    if verdict.decision == "inconclusive":
        then = policy.rollout.canary_inconclusive
        reason = f"canary inconclusive, {verdict.reason}; policy canary_inconclusive: {then}"
        payload["inconclusive"] = then
        if then == "rollback":
            return roll_back(d, r, reason, payload)
    return promote(d, r, reason, payload, baseline)


def promote(d: Deps, r: RolloutView, reason: str, payload: dict[str, Any], baseline: Baseline) -> Outcome:
    """Promote the challenger (once: a restart mid-promotion does not promote twice), clear the canary, and
    open the guard window against ``baseline``."""
    assert r.challenger is not None
    versions = d.need_versions()
    current = versions.champion(r.model)
    if current is None or current.version != r.challenger:
        versions.promote(r.model, r.challenger, reason=f"canary: {reason}")
    d.need_routes().clear(r.model, reason="controller: canary promoted")
    moved = move(
        d,
        r,
        S.PROMOTED,
        f"{r.model}/{r.challenger} promoted: {reason}",
        data=dataclasses.replace(
            r.data,
            promoted_at=d.clock(),
            baseline_accuracy=baseline.accuracy,
            baseline_metric=baseline.metric,
            baseline_error=baseline.error,
        ),
        payload=payload,
    )
    return Outcome(moved, Step(r.model, moved.state.value, "promoted", reason, payload))
