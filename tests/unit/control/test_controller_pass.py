"""The controller itself only wires: lease, pause and errors around the step of each managed model. These
run it over a stand-in project (the memory store, a registry that knows no version) without any model."""

from types import SimpleNamespace
from typing import Any

import pytest

from mlfactory.config import ModelConfig
from mlfactory.control import Controller
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
