"""A regressor's canary by seeded simulation: its mean absolute and root mean squared error comparisons keep
their error rates however often the controller looks, and catch a challenger whose errors are larger.

Each trial streams requests to a canary at the policy's weight, labels a share of them, and asks the canary
analysis's own comparison (:func:`error_status`, on running sums) at every look; a trial ends at its first
decision. Rates are asserted with a binomial margin over the trials.
"""

import numpy as np
import pandas as pd
import pytest

from mlfactory.config import CompareConfig, RolloutConfig
from mlfactory.control.canary import analyze_canary, canary_plan, comparisons
from mlfactory.control.regression_canary import LossSums, error_status, loss_sums, metric_value

TRIALS = 400


def policy(metric: str, limit: float, relative: bool, weight: float = 20) -> RolloutConfig:
    compare = [CompareConfig(metric=metric, max_regression=limit, relative=relative)]  # type: ignore[arg-type]
    return RolloutConfig(canary_weight=weight, compare=compare, significance=0.05)


def noise(rng: np.random.Generator, kind: str, scale: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Prediction errors: Gaussian, or Laplace (heavier tails), with the given scale per row."""
    if kind == "laplace":
        return rng.laplace(0.0, scale, shape)
    return rng.normal(0.0, scale, shape)


def simulate(
    metric: str,
    ratio: float,
    *,
    limit: float,
    relative: bool,
    canary_rows: int,
    every: int,
    kind: str = "normal",
    labelled: float = 1.0,
    seed: int = 0,
    trials: int = TRIALS,
    weight: float = 20,
) -> tuple[float, float]:
    """(share of trials rolled back, share promoted) within ``canary_rows`` canary rows, the challenger's
    errors ``ratio`` times the champion's (scale 3 in the label's unit), looking every ``every`` rows."""
    rules = policy(metric, limit, relative, weight)
    rng = np.random.default_rng(seed)
    total = int(canary_rows / (rules.canary_weight / 100))
    side = rng.random((trials, total)) < rules.canary_weight / 100
    seen = rng.random((trials, total)) < labelled
    err = noise(rng, kind, np.where(side, 3.0 * ratio, 3.0), (trials, total))
    loss = np.abs(err) if metric == "mae" else np.square(err)

    def sums(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.cumsum(mask, 1), np.cumsum(mask * loss, 1), np.cumsum(mask * loss * loss, 1)

    c, p = sums(side & seen), sums(~side & seen)
    looks = np.searchsorted(np.cumsum(side, 1).max(0), np.arange(every, canary_rows + 1, every))
    rolled, promoted = np.zeros(trials, bool), np.zeros(trials, bool)
    for i in np.unique(np.minimum(looks, total - 1)):
        open_ = ~(rolled | promoted)
        status, *_ = error_status(
            metric,
            LossSums(*(x[:, i] for x in c)),
            LossSums(*(x[:, i] for x in p)),
            limit=limit,
            relative=relative,
            policy=rules,
        )
        rolled |= open_ & (status == "regressed")
        promoted |= open_ & (status == "ok")
    return float(rolled.mean()), float(promoted.mean())


def ceiling(rate: float, trials: int = TRIALS) -> float:
    """The rate plus three binomial standard errors: what a true rate of ``rate`` stays under."""
    return rate + 3 * np.sqrt(rate * (1 - rate) / trials)


@pytest.mark.parametrize(
    ("metric", "kind", "limit", "relative"),
    [("mae", "laplace", 0.05, True), ("rmse", "normal", 0.05, True), ("mae", "normal", 0.15, False)],
)
def test_equal_regressors_are_rolled_back_at_most_alpha_however_often_looked_at(
    metric: str, kind: str, limit: float, relative: bool
) -> None:
    for every, seed in ((10, 1), (2000, 2)):  # every 10 canary rows, and once at the end
        rolled, _ = simulate(
            metric, 1.0, limit=limit, relative=relative, canary_rows=2000, every=every, kind=kind, seed=seed
        )
        assert rolled <= ceiling(0.05), (metric, every, rolled)


@pytest.mark.parametrize(("metric", "kind"), [("mae", "laplace"), ("rmse", "normal")])
def test_an_equal_regressor_is_promoted_given_enough_labelled_rows(metric: str, kind: str) -> None:
    # at half the traffic, 16,000 labelled canary rows show errors within 5% of the champion's (half as
    # many promote 57% with Laplace errors, 91% with Gaussian ones: |e| of Laplace errors spreads more)
    rolled, promoted = simulate(
        metric,
        1.0,
        limit=0.05,
        relative=True,
        canary_rows=16000,
        every=200,
        kind=kind,
        seed=6,
        trials=150,
        weight=50,
    )
    assert promoted >= 0.9 and rolled <= ceiling(0.05, 150), (rolled, promoted)


@pytest.mark.parametrize(("metric", "kind"), [("mae", "laplace"), ("rmse", "normal")])
def test_larger_errors_are_rolled_back_and_not_promoted(metric: str, kind: str) -> None:
    # twice the allowed 5%: the challenger's errors are 10% larger
    rolled, promoted = simulate(
        metric, 1.10, limit=0.05, relative=True, canary_rows=3000, every=10, kind=kind, seed=3
    )
    assert rolled >= 0.9, rolled
    assert promoted <= ceiling(0.05), promoted
    # with a fifth of the rows labelled it takes five times the traffic, and still holds
    rolled, promoted = simulate(
        metric,
        1.10,
        limit=0.05,
        relative=True,
        canary_rows=15000,
        every=50,
        kind=kind,
        labelled=0.2,
        seed=4,
        trials=150,
    )
    assert rolled >= 0.9 and promoted <= ceiling(0.05, 150), (rolled, promoted)


def test_a_challenger_just_at_the_allowance_is_rarely_promoted() -> None:
    """Non-inferiority's error: errors exactly 5% larger is the boundary; it may be promoted at most about
    alpha of the time however often the canary looks."""
    _, promoted = simulate("mae", 1.05, limit=0.05, relative=True, canary_rows=3000, every=10, seed=5)
    assert promoted <= ceiling(0.05), promoted


def test_error_metrics_from_logged_rows_and_the_delta_variance() -> None:
    frame = pd.DataFrame(
        {"prediction": [1.0, 2.0, 3.0, "4.0", 5.0, 9.0], "label": [1.5, 2.0, None, 3.0, "x", 6.0]}
    )
    mae, rmse = loss_sums(frame, "mae"), loss_sums(frame, "rmse")
    assert int(np.asarray(mae.rows)) == 4  # unlabelled and non-numeric rows are left out
    assert float(metric_value("mae", mae)[0]) == pytest.approx((0.5 + 0 + 1 + 3) / 4)
    assert float(metric_value("rmse", rmse)[0]) == pytest.approx(np.sqrt((0.25 + 0 + 1 + 9) / 4))
    # the delta method's variance of rmse matches the spread of rmse over resampled windows
    rng = np.random.default_rng(0)
    err = rng.normal(0, 2.0, (2000, 300))
    rmses = np.sqrt(np.square(err).mean(axis=1))
    sq = np.square(err[0])
    _, var = metric_value("rmse", LossSums(300, sq.sum(), np.square(sq).sum()))
    assert float(np.sqrt(var)) == pytest.approx(rmses.std(), rel=0.15)


def frame(rng: np.random.Generator, n: int, scale: float, labelled: float = 1.0) -> pd.DataFrame:
    y = rng.normal(50, 10, n)
    label = np.where(rng.random(n) < labelled, y, np.nan)
    return pd.DataFrame({"prediction": y + rng.normal(0, scale, n), "label": label, "latency_ms": 2.0})


def test_a_regressor_canary_compares_its_errors_not_accuracy() -> None:
    rng = np.random.default_rng(8)
    default = RolloutConfig(min_canary_rows=100)
    assert [c.metric for c in comparisons(default, "regression")] == ["error_rate", "mae", "latency_p95_ms"]
    assert [c.metric for c in comparisons(default, "classification")][1] == "accuracy"
    assert canary_plan(default, 0.9, "regression") is None  # no accuracy plan for a regressor
    worse = analyze_canary(
        frame(rng, 400, 3.0), frame(rng, 1600, 2.0), default, elapsed_s=10, task="regression"
    )
    assert worse.decision == "rollback", worse.reason
    assert "mae" in worse.reason and "accuracy" not in worse.reason
    same = analyze_canary(
        frame(rng, 1500, 2.0), frame(rng, 6000, 2.0), default, elapsed_s=10, task="regression"
    )
    assert same.decision == "promote", same.reason
    mae = next(c for c in same.checks if c.metric == "mae")
    assert mae.status == "ok" and mae.champion == pytest.approx(2.0 * np.sqrt(2 / np.pi), rel=0.05)
    unlabelled = analyze_canary(
        frame(rng, 400, 2.0, 0.0), frame(rng, 1600, 2.0, 0.0), default, elapsed_s=10, task="regression"
    )
    assert unlabelled.decision == "wait" and "0 labelled canary rows" in unlabelled.reason


def test_a_regressor_prediction_shift_is_measured_on_binned_numbers() -> None:
    """Read as categories every predicted number is its own value, so equal regressors looked maximally
    apart and every canary comparing prediction_shift rolled back; binned, equal ones pass."""
    rules = RolloutConfig(compare=[CompareConfig(metric="prediction_shift", max_regression=0.1)])
    rng = np.random.default_rng(13)

    def shift_check(offset: float) -> str:
        chal = pd.DataFrame({"prediction": rng.normal(50 + offset, 10, 400), "latency_ms": 2.0})
        champ = pd.DataFrame({"prediction": rng.normal(50, 10, 1600), "latency_ms": 2.0})
        verdict = analyze_canary(chal, champ, rules, elapsed_s=0, task="regression")
        return verdict.checks[0].status

    equal = [shift_check(0.0) for _ in range(300)]
    assert np.mean([s == "regressed" for s in equal]) <= ceiling(0.05, 300)
    moved = [shift_check(5.0) for _ in range(100)]  # half a standard deviation
    assert np.mean([s == "regressed" for s in moved]) >= 0.95
