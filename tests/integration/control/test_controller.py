"""The controller against a real project: triggers, cooldown and cap, failures, restarts and races."""

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
import yaml

from mlfactory.config import ServerConfig
from mlfactory.control import Controller, RolloutState
from mlfactory.control.feedback import feedback_training_rows
from mlfactory.errors import StoreUnavailableError
from mlfactory.project import Project, open_project
from mlfactory.quickstart.story import FEATURES, World, send
from mlfactory.server.run import start_server
from mlfactory.server.settings import ServerSettings
from project_helpers import managed_project as managed


def kinds(project: Project) -> list[str]:
    return [
        e.kind
        for e in project.metadata.list_events(model="spam")
        if e.kind.startswith(("rollout.", "controller."))
    ]


def test_rejected_challenger_then_cooldown_then_cap(tmp_path: Path) -> None:
    project = managed(
        tmp_path / "p", policy={"triggers": {"schedule": "0s"}, "cooldown": "1h"}, gate_min=0.999
    )
    first = Controller(project).tick()
    assert [s.action for s in first] == ["rejected"]
    assert kinds(project) == ["rollout.retraining", "rollout.rejected", "rollout.idle"]
    retraining = project.metadata.list_events(kinds=["rollout.retraining"])[0]
    assert (
        "production spam/1 is" in retraining.reason
        and retraining.payload["triggers"][0]["kind"] == "schedule"
    )
    rejected = project.metadata.list_events(kinds=["rollout.rejected"])[0]
    assert "failed its gates" in rejected.reason and rejected.payload["gates"][0]["passed"] is False
    assert project.registry.resolve("spam").version == 1  # production untouched

    second = Controller(project).tick()
    assert second[0].action == "suppressed" and "cooldown" in second[0].reason
    Controller(project).tick()
    assert kinds(project).count("controller.suppressed") == 1  # one event per suppression, not per tick
    project.close()

    path = tmp_path / "p" / "mlfactory.yaml"
    config = yaml.safe_load(path.read_text())
    config["models"]["spam"]["policy"].update({"cooldown": "0s", "max_retrains_per_day": 2})
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    with open_project(tmp_path / "p", env={}) as project:
        assert Controller(project).tick()[0].action == "rejected"
        capped = Controller(project).tick()[0]
        assert capped.action == "suppressed" and "2 retrains in the last 24 h (max 2)" in capped.reason


def test_training_failure_is_recorded_and_production_keeps_serving(tmp_path: Path) -> None:
    project = managed(tmp_path / "p", policy={"triggers": {"schedule": "0s"}, "cooldown": "0s"})
    data = tmp_path / "p" / "data" / "emails.csv"
    pd.read_csv(data).drop(columns=["body"]).to_csv(data, index=False)  # the next ingest fails validation
    step = Controller(project).tick()[0]
    assert step.action == "retrain_failed"
    failed = project.metadata.list_events(kinds=["rollout.failed"])[0]
    assert "body" in failed.reason
    assert project.metadata.get_rollout("spam").state == "idle"
    assert project.registry.resolve("spam").version == 1
    project.close()


def test_database_unavailable_is_an_error_step_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = managed(tmp_path / "p", policy={"triggers": {"schedule": "0s"}})
    controller = Controller(project)

    def down(*args: object, **kwargs: object) -> None:
        raise StoreUnavailableError("metadata store sqlite:///x cannot be reached: disk I/O error")

    monkeypatch.setattr(project.metadata, "get_rollout", down)
    steps = controller.tick()
    assert [s.action for s in steps] == ["error"] and "cannot be reached" in steps[0].reason
    monkeypatch.undo()
    assert controller.tick()[0].action in ("canary", "rejected")  # it carries on once the database is back
    project.close()


def test_two_controllers_race_and_only_one_acts(tmp_path: Path) -> None:
    project = managed(tmp_path / "p", policy={"triggers": {"schedule": "0s"}, "cooldown": "1h"})
    project.close()
    cmd = [
        sys.executable,
        "-m",
        "mlfactory.cli.main",
        "--project",
        str(tmp_path / "p"),
        "controller",
        "tick",
        "--json",
    ]
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    with open_project(tmp_path / "p", env={}) as project:
        assert kinds(project).count("rollout.retraining") == 1
        assert len(project.metadata.list_model_versions("spam")) == 2  # exactly one challenger trained


def test_restart_mid_rollout_and_feedback_loop_guard(tmp_path: Path) -> None:
    policy = {
        "triggers": {"performance_metric": "accuracy", "performance_below": 0.9},
        "window_rows": 100,
        "cooldown": "0s",
        "rollout": {"canary_weight": 50, "canary_key": "message_id", "min_canary_rows": 60, "guard_rows": 40},
    }
    project = managed(tmp_path / "p", policy={**policy, "max_training_rows": 1000}, gate_min=0.8)
    server_cfg = ServerConfig(reload_interval=0.1)
    server_cfg = server_cfg.model_copy(
        update={"prediction_log": server_cfg.prediction_log.model_copy(update={"flush_interval": 0.1})}
    )
    server = start_server(ServerSettings(project=tmp_path / "p", env={}, server=server_cfg, routing_seed=1))
    world = World(3)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            first = send(client, world.emails(200, 0.0))
            assert first.accuracy > 0.9
            # mail the model quarantined: nobody reviewed it, so its "label" is the model's own output
            emails = world.emails(300, 1.0)
            records = emails[["message_id", *FEATURES]].to_dict("records")
            answer = client.post("/v1/models/spam/predict", json={"records": records}).json()
            log = Controller(project).predictions
            assert log.wait_for([*first.request_ids, *answer["request_ids"]])
            labels = [
                {"request_id": r, "label": p}
                for r, p in zip(answer["request_ids"], answer["predictions"], strict=True)
            ]
            body = {"labels": labels, "source": "auto:quarantine"}
            client.post("/v1/feedback", json=body).raise_for_status()
            rows = feedback_training_rows(log, project.metadata, "spam", project.config.models["spam"])
            assert len(rows.frame) == 200  # the 300 self-labelled rows are not training data
            assert Controller(project).tick()[0].action == "watching"  # self-labels look perfect: no trigger

            assert log.wait_for(send(client, world.emails(800, 1.0)).request_ids)
            step = Controller(project, owner="a").tick()[0]
            assert step.action == "canary", step
            challenger = project.metadata.get_rollout("spam").challenger
            for _ in range(100):
                if {r["version"] for r in client.get("/v1/models/spam").json()["routes"]} == {1, challenger}:
                    break
                time.sleep(0.05)
            assert log.wait_for(send(client, world.emails(400, 1.0)).request_ids)
        # a new controller process picks up the rollout where the first left it
        with open_project(tmp_path / "p", env={}) as again:
            step = Controller(again, owner="b").tick()[0]
            assert step.action == "promoted", step
            assert again.registry.resolve("spam").version == challenger
            assert again.metadata.get_rollout("spam").state == RolloutState.PROMOTED
    finally:
        server.stop()
        project.close()


def test_challenger_that_fails_to_load_is_rolled_back_at_once(tmp_path: Path) -> None:
    project = managed(tmp_path / "p", policy={"triggers": {"schedule": "0s"}, "cooldown": "1h"})
    assert Controller(project).tick()[0].action == "canary"
    challenger = project.metadata.get_model_version("spam", 2)
    path = project.artifacts.local_path(challenger.artifact)
    path.write_bytes(b"not a model")  # the bytes changed after registration: no server may load them
    server = start_server(
        ServerSettings(project=tmp_path / "p", env={}, server=ServerConfig(reload_interval=0.1))
    )
    try:
        for _ in range(100):
            if project.metadata.list_events(kinds=["serving.load_failed"]):
                break
            time.sleep(0.05)
        with httpx.Client(base_url=server.url) as client:  # production keeps answering meanwhile
            body = {"records": World(1).emails(5, 0.0)[FEATURES].to_dict("records")}
            answer = client.post("/v1/models/spam/predict", json=body)
            assert answer.status_code == 200, answer.text
            assert answer.json()["versions"] == [1] * 5
        step = Controller(project).tick()[0]
        assert step.action == "rolled_back" and "failed to load" in step.reason
        assert project.registry.resolve("spam").version == 1
        assert project.metadata.get_routing_policies("spam") == {}
    finally:
        server.stop()
        project.close()


def test_a_challenger_that_errors_in_its_canary_is_rolled_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlfactory.serving.served import ModelFailedError, ServedVersion

    policy = {
        "triggers": {"schedule": "0s"},
        "cooldown": "1h",
        "rollout": {"canary_weight": 50, "canary_key": "message_id", "min_canary_rows": 500},
    }
    project = managed(tmp_path / "p", policy=policy)
    assert Controller(project).tick()[0].action == "canary"
    real = ServedVersion.predict_batch

    def broken_for_v2(self: ServedVersion, batch):  # type: ignore[no-untyped-def]
        if self.number == 2:  # what predict_batch raises when the estimator fails on live rows
            raise ModelFailedError(f"model {self.ref} failed to predict these rows (RuntimeError)")
        return real(self, batch)

    monkeypatch.setattr(ServedVersion, "predict_batch", broken_for_v2)
    server = start_server(
        ServerSettings(project=tmp_path / "p", env={}, server=ServerConfig(reload_interval=0.1))
    )
    try:
        emails = World(5).emails(200, 0.0)[["message_id", *FEATURES]].to_dict("records")
        with httpx.Client(base_url=server.url) as client:
            codes = [
                client.post("/v1/models/spam/predict", json={"records": [e]}).status_code for e in emails
            ]
        assert 503 in codes and 200 in codes  # the canary's rows fail, production's rows are answered
        assert "Traceback" not in str(codes)
        for _ in range(100):
            if project.metadata.list_events(kinds=["serving.predict_failed"]):
                break
            time.sleep(0.05)
        time.sleep(1.5)  # the answered rows reach the prediction log (flushed every second)
        step = Controller(project).tick()[0]
        assert step.action == "rolled_back", step
        check = next(c for c in step.payload["checks"] if c["metric"] == "error_rate")
        assert check["status"] == "regressed" and check["challenger"] == 1.0
        assert project.registry.resolve("spam").version == 1
    finally:
        server.stop()
        project.close()


def test_estimated_performance_triggers_before_labels_arrive(tmp_path: Path) -> None:
    from mlfactory.monitoring import Window, monitor_project

    policy = {"triggers": {"performance_metric": "accuracy", "performance_below": 0.99}, "cooldown": "1h"}
    project = managed(tmp_path / "p", policy=policy, gate_min=0.999)
    settings = ServerSettings(project=tmp_path / "p", env={}, server=ServerConfig(reload_interval=0.1))
    server = start_server(settings)
    try:
        emails = World(2).emails(400, 1.0)[["message_id", *FEATURES]].to_dict("records")
        with httpx.Client(base_url=server.url) as client:
            answer = client.post("/v1/models/spam/predict", json={"records": emails}).json()
        log = Controller(project).predictions
        assert log.wait_for(answer["request_ids"])
        [report] = monitor_project(project, log, models=["spam"], window=Window(last=400))
        assert report.metrics["performance.labelled_rows"] == 0
        assert report.metrics["estimated.accuracy"] < 0.99
        step = Controller(project).tick()[0]
        assert step.action == "rejected"  # it retrained (and the strict gate stopped the challenger)
        retraining = project.metadata.list_events(kinds=["rollout.retraining"])[0]
        assert retraining.reason.startswith("estimated accuracy")
        assert retraining.payload["triggers"][0]["estimated"] is True
    finally:
        server.stop()
        project.close()
