"""A regressor under the controller: its performance trigger fires when an error metric rises above the
bound, and its guard window holds production's error to the champion's during the canary; the canary's
comparison settings are checked against the metric they compare."""

import dataclasses
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from mlfactory.config import CompareConfig
from mlfactory.control.rollout import RolloutData
from mlfactory.control.steps.guard import guard
from mlfactory.control.steps.live import canary, gated
from mlfactory.control.triggers import LatestReport, TriggerInputs, estimated, performance
from mlfactory.entities import PRODUCTION, Signature
from mlfactory.monitoring import ReportMetrics
from unit.control.fakes import MODEL, T0, World, policy, version

GUARD = {"guard_rows": 100, "min_labelled_rows": 30, "guard_duration": "1h"}


def regression_rows(n: int, error_sd: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.normal(100.0, 10.0, n)
    return pd.DataFrame({"prediction": y + rng.normal(0.0, error_sd, n), "label": y, "latency_ms": 5.0})


def inputs(metric: str, bound: float, labelled: pd.DataFrame) -> TriggerInputs:
    return TriggerInputs(
        name=MODEL,
        task="regression",
        policy=policy(triggers={"performance_metric": metric, "performance_below": bound}, window_rows=100),
        champion=version(1),
        now=T0 + timedelta(hours=1),
        labelled=labelled,
    )


def test_an_error_metric_fires_above_its_bound_and_a_score_below_it() -> None:
    big = regression_rows(200, 3.0)  # rmse about 3
    fired = performance(inputs("rmse", 2.0, big))
    assert fired is not None and fired.details["value"] > 2.0
    assert fired.reason.startswith("realized rmse") and "is above 2.0" in fired.reason
    assert performance(inputs("rmse", 4.0, big)) is None  # within the bound
    assert performance(inputs("mae", 1.0, big)) is not None
    r2 = performance(inputs("r2", 0.99, big))  # a score: below its bound fires
    assert r2 is not None and "is below 0.99" in r2.reason
    assert performance(inputs("r2", 0.5, big)) is None
    as_text = big.assign(label=big["label"].astype(str))  # labels that arrived as text still count
    assert performance(inputs("rmse", 2.0, as_text)) is not None


def test_without_an_estimate_a_report_decides_nothing() -> None:
    report = LatestReport("r1", ReportMetrics.from_flat({"estimated.accuracy": 0.8}))
    assert estimated(report, "accuracy", 0.9) is not None
    assert estimated(report, "rmse", 1.0) is None  # a regressor's report has no estimate: nothing fires


def promoted(world: World, labelled: pd.DataFrame, metric: str = "mae", baseline: float = 2.4) -> Any:
    world.versions.promote(MODEL, 2, reason="canary passed")
    world.traffic.frames[(2, PRODUCTION)] = labelled
    return world.put("promoted", promoted_at=world.clock.now, baseline_metric=metric, baseline_error=baseline)


def test_a_regressor_holding_up_closes_its_guard_window(world: World) -> None:
    # errors of sd 3: mae about 2.39, the champion's during the canary 2.4
    out = guard(world.deps, promoted(world, regression_rows(300, 3.0)), policy(rollout=GUARD))
    assert out.step is not None and out.step.action == "guard_passed", out.step
    assert out.step.payload["rows"] == 300 and out.step.payload["mae"] == pytest.approx(2.4, abs=0.25)
    assert world.last("rollout.idle").reason.startswith("guard window passed: mae")


def test_a_regressor_whose_errors_grew_after_promotion_is_rolled_back(world: World) -> None:
    # the default comparison allows 5% above the champion's mae; errors half again as large are not
    out = guard(world.deps, promoted(world, regression_rows(300, 4.5)), policy(rollout=GUARD))
    assert out.step is not None and out.step.action == "guard_rollback", out.step
    assert out.step.reason.startswith("guard window: production mae")
    assert world.versions.stack == [1]


def test_an_rmse_guard_uses_the_canary_allowance_in_the_label_unit(world: World) -> None:
    rules = {**GUARD, "compare": [{"metric": "rmse", "max_regression": 2.0}]}
    out = guard(world.deps, promoted(world, regression_rows(300, 4.5), "rmse", 3.0), policy(rollout=rules))
    assert out.step is not None and out.step.action == "guard_passed"  # 4.5 is within 3 + 2
    assert out.step.payload["rmse"] == pytest.approx(4.5, abs=0.5)


def test_compare_settings_are_checked() -> None:
    assert CompareConfig(metric="rmse", max_regression=0.1, relative=True).relative
    with pytest.raises(ValidationError, match="relative: true is for mae and rmse"):
        CompareConfig(metric="accuracy", max_regression=0.1, relative=True)


def test_a_regressor_baseline_is_stored_with_the_rollout() -> None:
    data = RolloutData(baseline_metric="rmse", baseline_error=2.5)
    assert data.to_json() == {"baseline_metric": "rmse", "baseline_error": 2.5}
    assert RolloutData.from_json(data.to_json()) == data


def as_regressor(world: World) -> None:
    """Make both registered versions regressors (no classes)."""
    for n, v in world.versions.by.items():
        world.versions.by[n] = dataclasses.replace(v, signature=Signature(task="regression"), metrics={})


def test_a_regressor_canary_starts_without_a_plan_and_promotes_with_its_error_baseline(world: World) -> None:
    as_regressor(world)
    started = gated(world.deps, world.put("gated"), policy(rollout={"canary_weight": 50}))
    assert started.rollout.state.value == "canary" and started.rollout.data.plan is None
    assert "labelled canary rows catch" not in world.last("rollout.canary").reason
    world.traffic.frames[(2, "canary")] = regression_rows(2000, 2.0, seed=1)
    world.traffic.frames[(1, PRODUCTION)] = regression_rows(2000, 3.0, seed=2)
    rules = {"canary_weight": 50, "min_canary_rows": 100}  # the default comparisons: mae within 5%
    out = canary(world.deps, started.rollout, policy(rollout=rules))
    assert out.step is not None and out.step.action == "promoted", out.step
    assert out.rollout.data.baseline_metric == "mae" and out.rollout.data.baseline_accuracy is None
    assert out.rollout.data.baseline_error == pytest.approx(3.0 * np.sqrt(2 / np.pi), rel=0.06)


def test_a_regressor_canary_without_an_error_comparison_still_gets_a_guard_baseline(world: World) -> None:
    as_regressor(world)
    world.traffic.frames[(2, "canary")] = regression_rows(500, 2.0, seed=3)
    world.traffic.frames[(1, PRODUCTION)] = regression_rows(500, 2.0, seed=4)
    world.routes.policy = {"canary": (2, 50.0)}
    r = world.put("canary", canary_started=world.clock.now)
    rules = {"compare": [{"metric": "error_rate", "max_regression": 0.01}], "min_canary_rows": 100}
    out = canary(world.deps, r, policy(rollout=rules))
    assert out.step is not None and out.step.action == "promoted", out.step
    assert "no metric on labelled rows is compared" in out.step.reason
    assert out.rollout.data.baseline_metric == "mae" and out.rollout.data.baseline_error is not None
