import itertools

import numpy as np
import pandas as pd
import pytest

from mlfactory.config import CompareConfig, RolloutConfig
from mlfactory.control import TRANSITIONS, RolloutState, analyze_canary, check_transition
from mlfactory.control.stats import as_classes, distribution_shift, hits, worse_proportion
from mlfactory.errors import ConflictError

S = RolloutState


def test_every_state_has_a_row_and_every_path_returns_to_idle() -> None:
    assert set(TRANSITIONS) == set(RolloutState)
    for state in RolloutState:  # from anywhere, idle is reachable (no dead ends)
        seen, frontier = {state}, [state]
        while frontier:
            for nxt in TRANSITIONS[frontier.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
        assert S.IDLE in seen or state == S.IDLE


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        (S.IDLE, S.CANARY),
        (S.IDLE, S.PROMOTED),
        (S.RETRAINING, S.CANARY),
        (S.CANARY, S.GATED),
        (S.REJECTED, S.CANARY),
        (S.PROMOTED, S.CANARY),
    ],
)
def test_illegal_moves_raise_naming_the_allowed_ones(src: RolloutState, dst: RolloutState) -> None:
    with pytest.raises(ConflictError, match=f"cannot move from '{src}' to '{dst}'"):
        check_transition(src, dst)


def test_legal_path() -> None:
    path = [S.IDLE, S.RETRAINING, S.GATED, S.SHADOW, S.CANARY, S.PROMOTED, S.IDLE]
    for a, b in itertools.pairwise(path):
        assert check_transition(a, b) == b


def test_worse_proportion_false_alarms_and_power() -> None:
    rng = np.random.default_rng(0)
    n = 400
    same = [worse_proportion(rng.binomial(n, 0.9), n, rng.binomial(n, 0.9), n)[1] for _ in range(2000)]
    assert np.mean(np.array(same) < 0.05) <= 0.065  # one-sided test at 5%: false alarms near 5%
    worse = [worse_proportion(rng.binomial(n, 0.82), n, rng.binomial(n, 0.9), n)[1] for _ in range(500)]
    assert np.mean(np.array(worse) < 0.05) >= 0.95


def test_distribution_shift() -> None:
    js, p = distribution_shift([0] * 50 + [1] * 50, [0] * 50 + [1] * 50)
    assert js == pytest.approx(0.0) and p > 0.5
    js, p = distribution_shift([0] * 90 + [1] * 10, [0] * 10 + [1] * 90)
    assert js > 0.5 and p < 1e-6


def test_labels_match_across_json_and_log_types() -> None:
    assert hits([1, 0, 1], [1.0, 0.0, 0.0], [0, 1]).tolist() == [True, True, False]
    assert hits(["spam", "ham"], ["spam", "spam"], ["ham", "spam"]).tolist() == [True, False]
    assert as_classes([1.0, 0.0], [0, 1]).dtype.kind == "i"


def frame(n: int, acc: float, latency: float = 2.0, seed: int = 0, labelled: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n)
    pred = np.where(rng.random(n) < acc, label, 1 - label)
    return pd.DataFrame(
        {
            "prediction": pred,
            "label": label.astype(float) if labelled else np.nan,
            "latency_ms": np.full(n, latency),
        }
    )


POLICY = RolloutConfig(
    min_canary_rows=100,
    compare=[
        CompareConfig(metric="accuracy", max_regression=0.02),
        CompareConfig(metric="latency_p95_ms", max_regression=20),
    ],
)


def test_canary_promotes_a_better_challenger() -> None:
    v = analyze_canary(
        frame(300, 0.95, seed=1), frame(700, 0.80, seed=2), POLICY, elapsed_s=10, classes=[0, 1]
    )
    assert v.decision == "promote" and "accuracy" in v.reason


def test_canary_rolls_back_a_significant_regression_at_once() -> None:
    v = analyze_canary(frame(60, 0.5, seed=1), frame(700, 0.95, seed=2), POLICY, elapsed_s=1, classes=[0, 1])
    assert v.decision == "rollback"  # before the minimum rows: regressions do not wait
    assert [c.status for c in v.checks] == ["regressed", "ok"]


def test_canary_waits_for_rows_labels_and_time() -> None:
    few = analyze_canary(frame(50, 0.95), frame(500, 0.95, seed=3), POLICY, elapsed_s=10, classes=[0, 1])
    assert few.decision == "wait" and "50/100 canary rows" in few.reason
    unlabelled = analyze_canary(
        frame(300, 0.9, labelled=False), frame(700, 0.9, labelled=False), POLICY, elapsed_s=10, classes=[0, 1]
    )
    assert unlabelled.decision == "wait" and "labelled" in unlabelled.reason
    slow = POLICY.model_copy(update={"min_canary_duration": 600.0})
    assert (
        analyze_canary(
            frame(300, 0.95), frame(700, 0.95, seed=4), slow, elapsed_s=10, classes=[0, 1]
        ).decision
        == "wait"
    )
    expired = analyze_canary(
        frame(50, 0.95), frame(500, 0.95), POLICY, elapsed_s=POLICY.max_canary_duration + 1, classes=[0, 1]
    )
    assert expired.decision == "inconclusive" and "maximum duration" in expired.reason
    assert "50/100 canary rows" in expired.reason  # it says which evidence was missing


def test_canary_latency_and_small_noise() -> None:
    slow = analyze_canary(
        frame(300, 0.9, latency=80), frame(700, 0.9, seed=5), POLICY, elapsed_s=10, classes=[0, 1]
    )
    assert slow.decision == "rollback" and "latency" in slow.reason
    close = analyze_canary(
        frame(300, 0.89, seed=6), frame(700, 0.90, seed=7), POLICY, elapsed_s=10, classes=[0, 1]
    )
    # a small, insignificant difference is no regression, but 300 rows cannot show it is within 0.02 either
    assert close.decision == "wait" and "not yet shown within 0.02" in close.reason
    surely = analyze_canary(
        frame(3000, 0.89, seed=6), frame(7000, 0.90, seed=7), POLICY, elapsed_s=10, classes=[0, 1]
    )
    assert surely.decision == "promote" and "no worse than 0.02 below" in surely.reason


def test_canary_rolls_back_on_errors_counted_by_the_servers() -> None:
    policy = RolloutConfig(
        min_canary_rows=100, compare=[CompareConfig(metric="error_rate", max_regression=0.01)]
    )
    errors = {"challenger": (40, 240), "champion": (0, 700)}
    v = analyze_canary(
        frame(200, 0.9), frame(700, 0.9, seed=8), policy, elapsed_s=10, classes=[0, 1], errors=errors
    )
    assert v.decision == "rollback" and "error rate 40/240 vs 0/700" in v.reason
    fine = analyze_canary(
        frame(200, 0.9),
        frame(700, 0.9, seed=8),
        policy,
        elapsed_s=10,
        classes=[0, 1],
        errors={"challenger": (0, 200), "champion": (1, 701)},
    )
    assert fine.decision == "promote"
