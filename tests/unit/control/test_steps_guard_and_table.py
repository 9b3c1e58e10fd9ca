"""The guard window after promotion, and the transition table the controller dispatches on."""

from typing import Any

import pytest

from mlfactory.control.rollout import RolloutView
from mlfactory.control.states import RolloutState
from mlfactory.control.steps import STEPS, advance
from mlfactory.control.steps.base import move
from mlfactory.control.steps.guard import guard
from mlfactory.control.triggers import Fired
from mlfactory.entities import PRODUCTION
from mlfactory.errors import ConflictError
from unit.control.fakes import MODEL, World, policy, rows

S = RolloutState
GUARD = {"guard_rows": 100, "min_labelled_rows": 30, "guard_duration": "1h"}


def promoted(world: World, *, baseline: float | None = 0.95, labelled: Any = None) -> RolloutView:
    world.versions.promote(MODEL, 2, reason="canary passed")
    if labelled is not None:
        world.traffic.frames[(2, PRODUCTION)] = labelled
    return world.put("promoted", promoted_at=world.clock.now, baseline_accuracy=baseline)


def test_no_guard_window_ends_the_rollout_at_once(world: World) -> None:
    out = guard(world.deps, promoted(world), policy(rollout={"guard_rows": 0}))
    assert out.step is not None and (out.step.action, out.rollout.state) == ("guard_passed", S.IDLE)


def test_the_guard_window_waits_for_labelled_rows(world: World) -> None:
    r = promoted(world, labelled=rows(80, labelled=40))
    out = guard(world.deps, r, policy(rollout=GUARD))
    assert out.step is not None and (out.step.action, out.step.reason) == (
        "guarding",
        "40/100 labelled rows since promotion",
    )
    assert out.rollout == r and world.kinds() == []


def test_production_holding_up_closes_the_guard_window(world: World) -> None:
    r = promoted(world, labelled=rows(200, correct=192))
    out = guard(world.deps, r, policy(rollout=GUARD))
    assert out.step is not None and out.step.action == "guard_passed"
    assert out.step.payload["accuracy"] == 0.96 and out.step.payload["rows"] == 200
    idle = world.last("rollout.idle")
    assert idle.reason == "guard window passed: accuracy 0.960 on 200 labelled rows (baseline 0.950)"
    assert world.versions.stack == [1, 2]


def test_production_worse_than_before_promotion_is_rolled_back(world: World) -> None:
    r = promoted(world, labelled=rows(200, correct=150))
    out = guard(world.deps, r, policy(rollout=GUARD))
    assert out.step is not None and out.step.action == "guard_rollback"
    assert out.step.reason.startswith("guard window: production accuracy 0.750 vs 0.950 before promotion (p=")
    assert out.step.payload["drop"] == pytest.approx(0.2)
    assert world.versions.stack == [1] and world.versions.rolled_back == [out.step.reason]
    assert world.kinds() == ["rollout.rolled_back", "rollout.idle"]
    assert out.rollout.state == S.IDLE


@pytest.mark.parametrize(
    ("then", "action", "production"), [("keep", "guard_inconclusive", 2), ("rollback", "guard_rollback", 1)]
)
def test_a_guard_window_without_evidence_ends_as_the_policy_says(
    world: World, then: str, action: str, production: int
) -> None:
    r = promoted(world, labelled=rows(10))
    world.clock.advance(3700)
    out = guard(world.deps, r, policy(rollout={**GUARD, "guard_inconclusive": then}))
    assert out.step is not None and out.step.action == action
    assert out.step.reason == (
        "guard window inconclusive after 3700 s: 10 of the 100 labelled rows it needs; "
        f"policy guard_inconclusive: {then}"
    )
    assert out.step.payload == {"rows": 10, "needed": 100, "baseline": 0.95, "inconclusive": then}
    assert world.versions.champion(MODEL).version == production


def test_a_guard_window_without_a_baseline_cannot_judge(world: World) -> None:
    r = promoted(world, baseline=None, labelled=rows(500))
    world.clock.advance(3700)
    out = guard(world.deps, r, policy(rollout=GUARD))
    assert out.step is not None and out.step.action == "guard_inconclusive"
    assert "no baseline accuracy (the champion had no labelled rows during the canary)" in out.step.reason


def test_every_state_has_a_step() -> None:
    assert set(STEPS) == set(RolloutState)


def test_one_pass_goes_from_idle_through_retraining_to_the_canary(world: World) -> None:
    world.fired = [Fired("schedule", "production is old", {})]
    step = advance(world.deps, RolloutView.of(world.store.get_rollout(MODEL)), policy())
    assert (step.action, step.state) == ("canary", "canary")
    assert world.kinds() == ["rollout.retraining", "rollout.gated", "rollout.canary"]
    stored = RolloutView.of(world.store.get_rollout(MODEL))
    assert stored.data.triggers == ("schedule",) and stored.data.dataset == "emails@2"
    assert stored.data.canary_started is not None and stored.challenger == 2


@pytest.mark.parametrize("final", ["rejected", "failed", "rolled_back"])
def test_a_rollout_left_in_a_final_state_is_reset(world: World, final: str) -> None:
    step = advance(world.deps, world.put(final, dataset="emails@2"), policy())
    assert (step.action, step.state, step.reason) == ("reset", "idle", f"rollout finished as {final}")
    assert world.store.get_rollout(MODEL).data == {}  # back at idle the data is cleared


def test_illegal_and_stale_moves_raise(world: World) -> None:
    idle = RolloutView.of(world.store.get_rollout(MODEL))
    with pytest.raises(ConflictError, match="cannot move from 'idle' to 'canary'"):
        move(world.deps, idle, S.CANARY, "skip the gates")
    move(world.deps, idle, S.RETRAINING, "a first controller")
    with pytest.raises(ConflictError):  # the revision it read is gone: another controller acted first
        move(world.deps, idle, S.RETRAINING, "a second controller")
