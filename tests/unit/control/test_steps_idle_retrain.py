"""The idle and retraining steps against in-memory fakes: triggers, cooldown, cap, gates and failures."""

from mlfactory.control.rollout import RolloutView
from mlfactory.control.states import RolloutState
from mlfactory.control.steps.idle import idle
from mlfactory.control.steps.retrain import retrain
from mlfactory.control.triggers import Fired
from mlfactory.errors import StoreUnavailableError
from unit.control.fakes import ACTOR, MODEL, World, policy

S = RolloutState
SCHEDULE = Fired("schedule", "production spam/1 is 30.0 h old (schedule 24.0 h)", {"age_s": 108000.0})


def at_idle(world: World) -> RolloutView:
    return RolloutView.of(world.store.get_rollout(MODEL))


def test_idle_waits_for_a_production_version(world: World) -> None:
    world.versions.stack.clear()
    out = idle(world.deps, at_idle(world), policy())
    assert out.step is not None and out.step.action == "waiting"
    assert out.step.reason == "'spam' has no production version to improve on; promote one first"
    assert world.kinds() == []


def test_idle_watches_while_no_trigger_fires(world: World) -> None:
    out = idle(world.deps, at_idle(world), policy())
    assert out.step is not None and (out.step.action, out.step.reason) == ("watching", "no trigger fired")
    assert world.store.get_rollout(MODEL).state == "idle"


def test_a_fired_trigger_starts_a_retrain_with_its_numbers(world: World) -> None:
    world.fired = [SCHEDULE]
    out = idle(world.deps, at_idle(world), policy())
    assert out.step is None  # the pass goes on: retraining is the next step
    assert out.rollout.state == S.RETRAINING and out.rollout.champion == 1
    assert out.rollout.data.triggers == ("schedule",)
    assert (out.rollout.data.retrain_started, out.rollout.data.retrain_by) == (world.clock(), ACTOR)
    event = world.last("rollout.retraining")
    assert event.reason == SCHEDULE.reason
    assert event.payload["triggers"] == [{"kind": "schedule", "age_s": 108000.0}]


def test_a_retrain_within_the_cooldown_is_suppressed_once(world: World) -> None:
    world.fired = [SCHEDULE]
    world.store.add_event("rollout.retraining", actor="test", model=MODEL, reason="earlier")
    first = idle(world.deps, at_idle(world), policy(cooldown="1h"))
    assert first.step is not None and first.step.action == "suppressed"
    assert first.step.reason.startswith("cooldown: last retrain ") and first.step.reason.endswith(
        "UTC, cooldown 3600 s"
    )
    again = idle(world.deps, at_idle(world), policy(cooldown="1h"))
    assert again.step is not None and again.step.action == "suppressed"
    suppressed = world.store.list_events(model=MODEL, kinds=["controller.suppressed"])
    assert len(suppressed) == 1  # one event per suppression, not per pass
    assert suppressed[0].payload == {"triggers": ["schedule"]} and SCHEDULE.reason in suppressed[0].reason
    assert world.store.get_rollout(MODEL).state == "idle"


def test_the_daily_cap_holds_back_a_retrain(world: World) -> None:
    world.fired = [SCHEDULE]
    for _ in range(2):
        world.store.add_event("rollout.retraining", actor="test", model=MODEL, reason="earlier")
    world.clock.advance(60)  # past the (zero) cooldown, within the day
    out = idle(world.deps, at_idle(world), policy(cooldown="0s", max_retrains_per_day=2))
    assert out.step is not None and out.step.reason == "cap: 2 retrains in the last 24 h (max 2)"
    assert idle(world.deps, at_idle(world), policy(cooldown="0s", max_retrains_per_day=3)).step is None


def test_a_challenger_passing_its_gates_is_gated_with_its_dataset(world: World) -> None:
    out = retrain(world.deps, world.put("retraining", challenger=None, retrain_by=ACTOR), policy())
    assert out.step is None  # the pass goes on to put it live
    assert out.rollout.state == S.GATED and out.rollout.challenger == 2
    assert out.rollout.data.dataset == "emails@2"
    gated = world.last("rollout.gated")
    assert gated.reason == "challenger spam/2 passed every gate against spam/1"
    assert gated.payload["dataset"] == "emails@2" and gated.payload["feedback_rows"] == 3
    assert gated.payload["metrics"] == {"accuracy": 0.93}  # numbers only, no confusion matrix


def test_a_challenger_failing_a_gate_is_rejected_and_the_rollout_ends(world: World) -> None:
    world.trainer.failed = ["accuracy = 0.8100 < 0.9"]
    out = retrain(world.deps, world.put("retraining", challenger=None, retrain_by=ACTOR), policy())
    assert out.step is not None and (out.step.action, out.step.reason) == (
        "rejected",
        "accuracy = 0.8100 < 0.9",
    )
    assert out.rollout.state == S.IDLE and out.rollout.data.dataset is None
    assert world.kinds() == ["rollout.rejected", "rollout.idle"]
    rejected = world.last("rollout.rejected")
    assert rejected.reason == "challenger spam/2 failed its gates: accuracy = 0.8100 < 0.9"
    assert rejected.payload["version"] == 2 and rejected.payload["gates"][0]["passed"] is False
    assert world.versions.promoted == [] and world.routes.calls == []


def test_a_retrain_that_breaks_is_failed_and_production_keeps_serving(world: World) -> None:
    world.trainer.error = RuntimeError("disk full")
    out = retrain(world.deps, world.put("retraining", challenger=None, retrain_by=ACTOR), policy())
    assert out.step is not None and (out.step.action, out.step.reason) == (
        "retrain_failed",
        "RuntimeError: disk full",
    )
    assert out.rollout.state == S.IDLE
    assert world.kinds() == ["rollout.failed", "rollout.idle"]
    failed = world.last("rollout.failed")
    assert failed.reason == "retraining failed: RuntimeError: disk full"
    assert failed.payload["error"] == "RuntimeError"
    assert world.versions.stack == [1]


def test_our_own_errors_are_described_by_their_message(world: World) -> None:
    world.trainer.error = StoreUnavailableError("the artifact store is away")
    out = retrain(world.deps, world.put("retraining", challenger=None, retrain_by=ACTOR), policy())
    assert out.step is not None and out.step.reason == "the artifact store is away"


def test_a_retrain_still_running_is_reported_and_the_pass_moves_on(world: World) -> None:
    world.retrains.hold = True
    at = world.clock()
    started = world.put("retraining", challenger=None, retrain_by=ACTOR, retrain_started=at)
    world.clock.advance(90)
    for _ in range(2):  # started once, then found running
        out = retrain(world.deps, started, policy())
        assert out.step is not None and out.step.action == "retraining"
        assert out.step.reason == f"retrain running in the background since {at:%H:%M:%S} UTC"
        assert out.step.payload == {"started": at.isoformat()}
        assert out.rollout == started and world.kinds() == []
    assert world.retrains.started == 1 and world.trainer.calls == 0

    world.retrains.finish(MODEL)
    out = retrain(world.deps, started, policy())
    assert out.step is None and out.rollout.state == S.GATED and out.rollout.challenger == 2
    assert world.retrains.jobs == {} and world.retrains.started == 1  # collected, not started again


def test_a_held_retrain_that_raises_fails_like_a_synchronous_one(world: World) -> None:
    world.retrains.hold = True
    world.trainer.error = RuntimeError("disk full")
    started = world.put("retraining", challenger=None, retrain_by=ACTOR)
    assert retrain(world.deps, started, policy()).step.action == "retraining"  # type: ignore[union-attr]
    world.retrains.finish(MODEL)
    out = retrain(world.deps, started, policy())
    assert out.step is not None and (out.step.action, out.step.reason) == (
        "retrain_failed",
        "RuntimeError: disk full",
    )
    assert world.kinds() == ["rollout.failed", "rollout.idle"]
    assert world.last("rollout.failed").payload["error"] == "RuntimeError"


def test_a_retrain_started_by_another_controller_is_failed_as_abandoned(world: World) -> None:
    gone = "controller:host:123:abc"
    at = world.clock()
    left = world.put("retraining", challenger=None, retrain_by=gone, retrain_started=at)
    out = retrain(world.deps, left, policy())
    why = f"retraining abandoned: {gone} started it at {at:%H:%M:%S} UTC and stopped before it finished"
    assert out.step is not None and (out.step.action, out.step.reason) == ("retrain_abandoned", why)
    assert out.rollout.state == S.IDLE and world.kinds() == ["rollout.failed", "rollout.idle"]
    failed = world.last("rollout.failed")
    assert failed.reason == why and (failed.payload["abandoned"], failed.payload["retrain_by"]) == (
        True,
        gone,
    )
    assert world.retrains.started == 0 and world.versions.stack == [1]  # nothing retrained, nothing moved


def test_the_cooldown_since_an_abandoned_retrain_holds_back_the_next(world: World) -> None:
    world.fired = [SCHEDULE]
    world.store.add_event("rollout.retraining", actor="controller:gone", model=MODEL, reason="schedule")
    retrain(world.deps, world.put("retraining", challenger=None, retrain_by="controller:gone"), policy())
    out = idle(world.deps, at_idle(world), policy(cooldown="10m"))
    assert out.step is not None and out.step.action == "suppressed"
    world.clock.advance(601)
    assert idle(world.deps, at_idle(world), policy(cooldown="10m")).step is None
