"""Shadow, canary, promotion and rollback against in-memory fakes: every way out of each state."""

from typing import Any

from mlfactory.control.states import RolloutState
from mlfactory.control.steps.live import canary, gated, shadow
from mlfactory.entities import PRODUCTION
from unit.control.fakes import MODEL, World, policy, rows

S = RolloutState
# accuracy alone decides these canaries, on few rows
JUDGE = {"compare": [{"metric": "accuracy", "max_regression": 0.02}], "min_canary_rows": 10}


def test_a_gated_challenger_goes_to_shadow_when_the_policy_asks(world: World) -> None:
    out = gated(world.deps, world.put("gated"), policy(rollout={"shadow": True}))
    assert out.step is not None and (out.step.action, out.rollout.state) == ("shadow", S.SHADOW)
    assert world.routes.calls == [("shadow", 2)]
    assert out.rollout.data.shadow_started == world.clock.now
    assert world.last("rollout.shadow").reason == "spam/2 sees a copy of traffic"


def test_a_gated_challenger_goes_straight_to_a_canary_with_its_plan(world: World) -> None:
    out = gated(world.deps, world.put("gated"), policy(rollout={"canary_weight": 10}))
    assert out.step is not None and (out.step.action, out.rollout.state) == ("canary", S.CANARY)
    assert world.routes.calls == [("canary", 2, 10.0)]
    plan = out.rollout.data.plan
    assert plan is not None and plan.champion_accuracy == 0.9  # production's holdout accuracy
    assert out.rollout.data.canary_started == world.clock.now
    event = world.last("rollout.canary")
    assert event.payload["plan"] == plan.to_json()
    assert event.reason.startswith("gates passed; spam/2 takes 10%; about ")
    assert f"about {plan.labelled_canary_rows_to_catch_2x_regression} labelled canary rows" in event.reason


def test_shadow_waits_for_its_rows_then_starts_the_canary(world: World) -> None:
    r = world.put("shadow", shadow_started=world.clock.now)
    world.routes.policy = {"shadow": 2}
    world.traffic.answered_rows[(2, "shadow")] = 150
    waiting = shadow(world.deps, r, policy(rollout={"shadow": True}))
    assert waiting.step is not None and (waiting.step.action, waiting.step.reason) == (
        "waiting",
        "150/200 shadow rows",
    )
    world.traffic.answered_rows[(2, "shadow")] = 200
    out = shadow(world.deps, r, policy(rollout={"shadow": True}))
    assert out.step is not None and out.rollout.state == S.CANARY
    assert world.routes.calls == [("shadow", None), ("canary", 2, 20.0)]
    assert world.last("rollout.canary").reason.startswith("shadow answered 200 rows; spam/2 takes 20%")


def test_a_shadow_without_enough_rows_by_its_maximum_duration_is_rolled_back(world: World) -> None:
    r = world.put("shadow", shadow_started=world.clock.now)
    world.routes.policy = {"shadow": 2}
    world.traffic.answered_rows[(2, "shadow")] = 12
    world.clock.advance(7200)
    out = shadow(world.deps, r, policy(rollout={"shadow": True, "max_canary_duration": "1h"}))
    assert out.step is not None and out.step.action == "rolled_back"
    assert out.step.reason == "shadow saw only 12 rows before its maximum duration"
    assert world.routes.calls == [("clear",)] and world.kinds() == ["rollout.rolled_back", "rollout.idle"]


def test_a_challenger_a_server_cannot_load_is_rolled_back(world: World) -> None:
    for state in ("shadow", "canary"):
        r = world.put(state, shadow_started=world.clock.now, canary_started=world.clock.now)
        world.store.add_event(
            "serving.load_failed", actor="server", model=MODEL, payload={"version": 2}, reason="bad pickle"
        )
        step = (shadow if state == "shadow" else canary)(world.deps, r, policy()).step
        assert step is not None and step.action == "rolled_back"
        assert step.reason == "challenger spam/2 failed to load on a server: bad pickle"
        assert step.payload == {"load_failed": "bad pickle"}
    assert world.versions.stack == [1]


def in_canary(world: World, challenger: Any, champion: Any) -> Any:
    world.traffic.frames[(2, "canary")] = challenger
    world.traffic.frames[(1, PRODUCTION)] = champion
    world.routes.policy = {"canary": (2, 20.0)}
    return world.put("canary", canary_started=world.clock.now)


def test_a_canary_waits_for_evidence(world: World) -> None:
    r = in_canary(world, rows(5), rows(20))
    out = canary(world.deps, r, policy(rollout=JUDGE))
    assert out.step is not None and out.step.action == "waiting" and out.rollout == r
    assert "5/10 canary rows" in out.step.reason
    assert out.step.payload["decision"] == "wait" and world.kinds() == []


def test_a_canary_as_good_as_production_is_promoted_and_the_guard_window_opens(world: World) -> None:
    r = in_canary(world, rows(3000), rows(3000, correct=2940))
    out = canary(world.deps, r, policy(rollout=JUDGE))
    assert out.step is not None
    assert out.step.action == "promoted", out.step.reason
    assert out.step.reason.startswith("no compared metric regressed: accuracy 1.000 vs 0.980")
    assert [v for v, _ in world.versions.promoted] == [2] and world.versions.stack == [1, 2]
    assert world.routes.calls == [("clear",)]
    assert out.rollout.state == S.PROMOTED
    assert out.rollout.data.promoted_at == world.clock.now
    assert out.rollout.data.baseline_accuracy == 0.98  # the champion's accuracy during the canary


def test_promotion_is_not_repeated_after_a_restart(world: World) -> None:
    world.versions.promote(MODEL, 2, reason="a controller promoted, then died before moving the rollout")
    r = in_canary(world, rows(3000), rows(3000))
    out = canary(world.deps, r, policy(rollout=JUDGE))
    assert out.step is not None and out.step.action == "promoted"
    assert len(world.versions.promoted) == 1


def test_a_regressing_canary_is_rolled_back_and_production_never_moved(world: World) -> None:
    r = in_canary(world, rows(300, correct=210), rows(300))
    out = canary(world.deps, r, policy(rollout=JUDGE))
    assert out.step is not None and out.step.action == "rolled_back"
    assert out.step.reason.startswith("canary regressed: accuracy 0.700 vs 1.000 on 300/300 labelled rows")
    assert out.step.payload["decision"] == "rollback"
    assert world.versions.stack == [1] and world.versions.promoted == []
    assert world.routes.calls == [("clear",)]
    assert world.kinds() == ["rollout.rolled_back", "rollout.idle"]


def test_an_inconclusive_canary_does_what_the_policy_says(world: World) -> None:
    late = {**JUDGE, "max_canary_duration": "1h"}
    r = in_canary(world, rows(50, labelled=0), rows(50, labelled=0))
    world.clock.advance(3601)
    out = canary(world.deps, r, policy(rollout=late))
    assert out.step is not None and out.step.action == "rolled_back"
    assert out.step.reason.startswith(
        "canary inconclusive, not enough evidence after the maximum duration (3600 s)"
    )
    assert out.step.reason.endswith("policy canary_inconclusive: rollback")
    assert out.step.payload["inconclusive"] == "rollback" and world.versions.stack == [1]

    r = in_canary(world, rows(50, labelled=0), rows(50, labelled=0))
    world.clock.advance(3601)
    out = canary(world.deps, r, policy(rollout={**late, "canary_inconclusive": "promote"}))
    assert out.step is not None and out.step.action == "promoted"
    assert out.step.payload["inconclusive"] == "promote" and world.versions.stack == [1, 2]
    assert out.rollout.data.baseline_accuracy is None  # no labelled champion rows to hold production to
