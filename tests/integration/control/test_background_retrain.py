"""Retraining in the background: the other models' canaries are decided while one model retrains, the
retrain's outcome is recorded by a later pass (or its failure, as before), a controller that stops leaves
a retrain the next one fails as abandoned, and the policy's budget bounds a retrain's search."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import wait
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlfactory.control import Controller
from mlfactory.control.rollout import RolloutData
from mlfactory.control.steps import Step
from mlfactory.project import Project, TrainResult, open_project
from project_helpers import managed_project, set_model, trained_project

POLICY: dict[str, Any] = {"triggers": {"schedule": "0s"}, "cooldown": "1h"}
DEADLINE = 240.0  # seconds a retrain may take on a slow machine; the tests never wait on time otherwise


class HeldTrain:
    """The project's ``train`` for one model held until ``go`` is set, then run (or made to raise
    ``error``); other models train at once."""

    def __init__(self, project: Project, model: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self.model = model
        self.real = project.train
        self.go = threading.Event()
        self.entered = threading.Event()
        self.error: Exception | None = None
        monkeypatch.setattr(project, "train", self)

    def __call__(self, model: str | None = None, **kwargs: Any) -> TrainResult:
        if model == self.model:
            self.entered.set()
            assert self.go.wait(DEADLINE), "the test never let the held retrain go"
            if self.error is not None:
                raise self.error
        return self.real(model, **kwargs)


def tick_until(controller: Controller, done: Callable[[dict[str, Step]], bool]) -> dict[str, Step]:
    """Passes that do not wait for retrains, until ``done`` holds for one pass's steps (by model)."""
    deadline = time.monotonic() + DEADLINE
    while True:
        steps = {s.model: s for s in controller.tick(wait=False)}
        if done(steps):
            return steps
        assert time.monotonic() < deadline, steps
        time.sleep(0.05)


def kinds(project: Project, model: str) -> list[str]:
    return [e.kind for e in project.metadata.list_events(model=model) if e.kind.startswith("rollout.")]


def two_models(root: Path) -> Project:
    """The spam project with a second model, ham (the same data and settings), both in production at
    version 1 and managed by the same policy."""
    trained_project(root)
    path = root / "mlfactory.yaml"
    config = yaml.safe_load(path.read_text())
    config["models"]["ham"] = dict(config["models"]["spam"])
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    set_model(root, policy=POLICY)
    config = yaml.safe_load(path.read_text())
    config["models"]["ham"]["policy"] = POLICY
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    project = open_project(root, env={}, actor="test")
    ham = project.train("ham")
    project.promote("ham", ham.version.version, reason="ham's first version")
    return project


def test_other_models_are_decided_while_one_retrains_then_its_retrain_goes_live(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = two_models(tmp_path / "p")
    held = HeldTrain(project, "spam", monkeypatch)
    controller = Controller(project)
    first = {s.model: s for s in controller.tick(wait=False)}
    assert first["spam"].action == "retraining", first["spam"]
    rollout = project.metadata.get_rollout("spam")
    data = RolloutData.from_json(rollout.data)
    assert rollout.state == "retraining" and data.retrain_by == controller.actor
    assert data.retrain_started is not None and first["spam"].payload == {
        "started": data.retrain_started.isoformat()
    }
    assert rollout.lease_owner == controller.owner  # kept while its retrain runs, so no one else acts

    canary = tick_until(controller, lambda s: s["ham"].action == "canary")
    assert canary["spam"].action == "retraining" and held.entered.is_set()
    challenger = project.metadata.get_rollout("ham").challenger
    project.metadata.add_event(
        "serving.load_failed",
        actor="server:test",
        model="ham",
        payload={"version": challenger},
        reason="ham/2's artifact does not match its checksum",
    )
    steps = {s.model: s for s in controller.tick(wait=False)}
    assert steps["ham"].action == "rolled_back" and "failed to load" in steps["ham"].reason
    assert steps["spam"].action == "retraining"
    assert project.registry.resolve("ham").version == 1
    assert project.metadata.get_rollout("spam").state == "retraining"
    assert kinds(project, "spam") == ["rollout.retraining"]  # nothing recorded while it runs

    held.go.set()
    done = tick_until(controller, lambda s: s["spam"].action != "retraining")
    assert done["spam"].action == "canary", done["spam"]
    assert kinds(project, "spam") == ["rollout.retraining", "rollout.gated", "rollout.canary"]
    assert project.metadata.get_rollout("spam").challenger == 2
    assert project.metadata.get_rollout("spam").lease_owner is None  # given back once recorded
    assert controller.retrains.running() == {}
    project.close()


def test_a_background_retrain_that_raises_fails_the_rollout_as_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = managed_project(tmp_path / "p", policy=POLICY)
    held = HeldTrain(project, "spam", monkeypatch)
    held.error = RuntimeError("the training node ran out of memory")
    controller = Controller(project)
    assert controller.tick(wait=False)[0].action == "retraining"
    held.go.set()
    step = tick_until(controller, lambda s: s["spam"].action != "retraining")["spam"]
    assert (step.action, step.reason) == (
        "retrain_failed",
        "RuntimeError: the training node ran out of memory",
    )
    assert kinds(project, "spam") == ["rollout.retraining", "rollout.failed", "rollout.idle"]
    failed = project.metadata.list_events(kinds=["rollout.failed"])[-1]
    assert failed.reason == "retraining failed: RuntimeError: the training node ran out of memory"
    assert failed.payload["error"] == "RuntimeError"
    rollout = project.metadata.get_rollout("spam")
    assert (rollout.state, rollout.lease_owner) == ("idle", None)
    assert project.registry.resolve("spam").version == 1
    project.close()


def test_a_controller_that_stops_mid_retrain_leaves_it_to_be_failed_as_abandoned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = managed_project(tmp_path / "p", policy=POLICY)
    held = HeldTrain(project, "spam", monkeypatch)
    stopped = Controller(project)
    assert stopped.tick(wait=False)[0].action == "retraining"
    assert Controller(project).tick(wait=False)[0].action == "skipped"  # its lease says who runs the job
    stopped.release()  # what `controller run` does on its way out; its job stays in the old process

    again = Controller(project)
    step = again.tick(wait=False)[0]
    assert step.action == "retrain_abandoned" and stopped.actor in step.reason, step
    failed = project.metadata.list_events(kinds=["rollout.failed"])[-1]
    assert failed.payload["abandoned"] is True and failed.payload["retrain_by"] == stopped.actor
    assert kinds(project, "spam") == ["rollout.retraining", "rollout.failed", "rollout.idle"]
    assert again.retrains.running() == {}  # nothing started: the cooldown since that retrain holds
    later = again.tick(wait=False)[0]
    assert later.action == "suppressed" and later.reason.startswith("cooldown: last retrain"), later

    held.error = RuntimeError("stopped")
    held.go.set()
    job = stopped.retrains.job("spam")
    assert job is not None and not wait([job], timeout=DEADLINE).not_done
    assert project.registry.resolve("spam").version == 1 and kinds(project, "spam")[-1] == "rollout.idle"
    project.close()


def test_a_controller_retrain_searches_within_the_policys_budget(tmp_path: Path) -> None:
    root = tmp_path / "p"
    with managed_project(root, policy=POLICY) as project:
        trials = 3 * project.compute.workers  # three rounds of trials, so a budget can cut them short
    search = {
        "trials": trials,
        "metric": "f1",
        "space": {"C": {"loguniform": [0.1, 10.0]}, "class_weight": {"choice": [None, "balanced"]}},
    }
    set_model(root, search=search, policy={**POLICY, "retrain_search_timeout": 0.001})
    with open_project(root, env={}, actor="test") as project:
        step = Controller(project).tick()[0]
        assert step.action in ("canary", "rejected"), step
        version = project.metadata.get_model_version("spam", 2)
        assert version.run_id is not None
        budgeted = project.run(version.run_id)
        assert budgeted.tags["search.stopped"] == "timeout"
        assert len(project.runs(where=f"tags.parent_run = {budgeted.id}")) < trials

        manual = project.run(project.train("spam").run_id)  # no budget: the model's own search settings
        assert manual.tags["search.stopped"] == "trials"
        assert len(project.runs(where=f"tags.parent_run = {manual.id}")) == trials
