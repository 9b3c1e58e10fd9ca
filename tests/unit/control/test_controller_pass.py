"""The controller itself only wires: lease, pause and errors around the step of each managed model. These
run it over a stand-in project (the memory store, a registry that knows no version) without any model."""

import threading
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from mlfactory.config import ModelConfig, PolicyConfig
from mlfactory.control import Controller
from mlfactory.control.rollout import RolloutData
from mlfactory.control.steps import Trained
from mlfactory.errors import NotFoundError
from mlfactory.stores import open_metadata_store
from unit.control.fakes import MODEL, Traffic


def stand_in(resolve: Any) -> Any:
    """A project with one managed model and one without a policy."""
    model = {"source": "emails", "label": "spam", "features": {"numeric": ["length"]}}
    models = {
        MODEL: ModelConfig.model_validate({**model, "policy": {"triggers": {"schedule": "1h"}}}),
        "manual": ModelConfig.model_validate(model),
    }
    return SimpleNamespace(
        metadata=open_metadata_store("memory://"),
        predictions=Traffic(),
        registry=SimpleNamespace(resolve=resolve),
        config=SimpleNamespace(models=models, controller=SimpleNamespace(lease=60.0, interval=1.0)),
    )


def unknown(ref: str) -> Any:
    raise NotFoundError(f"no version '{ref}'")


@pytest.fixture
def project() -> Any:
    p = stand_in(unknown)
    yield p
    p.metadata.close()


def test_only_models_with_a_policy_are_managed(project: Any) -> None:
    assert list(Controller(project).managed()) == [MODEL]


def test_a_pass_runs_the_step_of_each_managed_model_and_gives_the_lease_back(project: Any) -> None:
    steps = Controller(project, owner="a").tick()
    assert [(s.model, s.action) for s in steps] == [(MODEL, "waiting")]  # no production version yet
    assert project.metadata.acquire_lease(MODEL, "b", 60)  # released at the end of the pass


def test_a_paused_model_is_left_alone(project: Any) -> None:
    project.metadata.set_paused(MODEL, True, actor="test", reason="maintenance")
    step = Controller(project).tick()[0]
    assert (step.action, step.reason) == ("paused", "the controller is paused for this model")


def test_a_model_another_live_controller_holds_is_skipped(project: Any) -> None:
    assert project.metadata.acquire_lease(MODEL, "elsewhere:1:abc", 300)
    step = Controller(project).tick()[0]
    assert (step.action, step.reason) == ("skipped", "another controller holds this model's lease")


def test_an_error_becomes_an_error_step_and_an_event_never_an_exception() -> None:
    def broken(ref: str) -> Any:
        raise RuntimeError("registry on fire")

    project = stand_in(broken)
    controller = Controller(project)
    step = controller.tick()[0]
    assert (step.action, step.state, step.reason) == ("error", "unknown", "RuntimeError: registry on fire")
    assert [type(e) for e in controller.errors] == [RuntimeError]
    event = project.metadata.list_events(kinds=["controller.error"])[-1]
    assert event.payload == {"error": "RuntimeError"} and event.reason == "RuntimeError: registry on fire"
    assert project.metadata.acquire_lease(MODEL, "b", 60)  # the lease was given back all the same


def held(go: threading.Event, error: Exception) -> Any:
    """A trainer that waits for ``go``, then raises ``error``."""

    def train(name: str, policy: PolicyConfig) -> Trained:
        assert go.wait(60)
        raise error

    return train


def retraining_by(project: Any, controller: Controller) -> None:
    """Store the rollout as retraining, started by ``controller``."""
    data = RolloutData(retrain_started=datetime.now(UTC), retrain_by=controller.actor)
    project.metadata.save_rollout(
        MODEL,
        expect_revision=0,
        state="retraining",
        challenger=None,
        champion=1,
        data=data.to_json(),
        event="rollout.retraining",
        actor=controller.actor,
        reason="schedule",
    )


def test_the_lease_is_kept_while_a_retrain_runs_and_a_waiting_pass_records_it(project: Any) -> None:
    controller = Controller(project, owner="a")
    retraining_by(project, controller)
    go = threading.Event()
    policy = project.config.models[MODEL].policy
    controller.retrains.start(MODEL, policy, held(go, RuntimeError("out of memory")))
    step = controller.tick(wait=False)[0]
    assert (step.action, step.state) == ("retraining", "retraining")
    assert project.metadata.get_rollout(MODEL).lease_owner == "a"  # the job is here: nobody else acts
    assert not project.metadata.acquire_lease(MODEL, "b", 60)

    go.set()
    step = controller.tick()[0]  # waits for the retrain, then records it
    assert (step.action, step.reason) == ("retrain_failed", "RuntimeError: out of memory")
    assert controller.retrains.running() == {}
    assert project.metadata.acquire_lease(MODEL, "b", 60)  # given back once recorded


def test_release_gives_back_the_leases_kept_for_running_retrains(project: Any) -> None:
    controller = Controller(project, owner="a")
    retraining_by(project, controller)
    go = threading.Event()
    controller.retrains.start(MODEL, project.config.models[MODEL].policy, held(go, RuntimeError("x")))
    assert controller.tick(wait=False)[0].action == "retraining"
    controller.release()
    assert project.metadata.get_rollout(MODEL).lease_owner is None
    go.set()


def test_a_retrain_the_rollout_moved_past_is_dropped(project: Any) -> None:
    controller = Controller(project, owner="a")
    go = threading.Event()
    controller.retrains.start(MODEL, project.config.models[MODEL].policy, held(go, RuntimeError("x")))
    step = controller.tick(wait=False)[0]  # the rollout is idle: another controller finished it
    assert step.action == "waiting" and controller.retrains.running() == {}
    assert project.metadata.acquire_lease(MODEL, "b", 60)  # nothing of ours runs for it: lease given back
    go.set()


def test_an_error_while_the_process_stops_is_not_recorded_as_a_failure() -> None:
    """A SIGTERM landing in a step surfaces as that step's error (DuckDB: "Query interrupted"): the pass
    marks the step interrupted, writes no controller.error and keeps no error for the exit code."""

    def interrupted(ref: str) -> Any:
        raise RuntimeError("INTERRUPT Error: Query interrupted")

    project = stand_in(interrupted)
    controller = Controller(project, stopping=lambda: True)
    step = controller.tick()[0]
    assert (step.action, step.reason) == ("interrupted", "the controller is shutting down")
    assert controller.errors == []
    assert project.metadata.list_events(kinds=["controller.error"]) == []
    assert project.metadata.acquire_lease(MODEL, "b", 60)  # the lease was given back on the way out
