"""XGBoost, LightGBM and CatBoost models, and a PyTorch class written in the project, through the whole
loop, seeded: ingest, train, gate, register, serve (native,
Open Inference Protocol V2 and MLflow's /invocations answering alike), users' labels as feedback, a
retrain by the controller on that feedback, a canary, and promotion. The label is the spam project's own
(0/1), text with three classes (which XGBoost alone would refuse), or a number (regression); the answers,
the prediction log and the feedback all carry the label as the project declares it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml

from mlfactory.config import ServerConfig
from mlfactory.control import Controller
from mlfactory.project import Project
from mlfactory.quickstart.story import FEATURES, World
from mlfactory.registry import native, project_models
from mlfactory.server.run import start_server
from mlfactory.server.settings import ServerSettings
from project_helpers import make_project
from project_model_helpers import use_project_model

pytestmark = pytest.mark.slow

Label = Callable[[pd.DataFrame], "pd.Series[Any]"]


def _three_kinds(frame: pd.DataFrame) -> pd.Series[Any]:
    """ham, spam, or phish (spam with three links or more): text labels, three classes."""
    kind = np.where(frame["is_spam"] == 0, "ham", np.where(frame["n_links"] >= 3, "phish", "spam"))
    return pd.Series(kind, index=frame.index)


def _score(frame: pd.DataFrame) -> pd.Series[Any]:
    """A number to predict: ten for spam, plus the links."""
    return (10.0 * frame["is_spam"] + frame["n_links"]).astype(float)


@dataclass(frozen=True)
class Case:
    estimator: str
    params: dict[str, Any]
    label: Label
    schema: dict[str, Any]  # the label column's declared type
    task: str = "classification"

    classes: list[Any] | None = None  # a classifier's classes, as the label declares them
    booster: str | None = None  # the class trained, when not the estimator's own
    project_model: bool = False  # ``estimator`` is a class of the project (``model:``), not a library's
    min_accuracy: float = 0.85  # the gate (a classifier's)

    @property
    def library(self) -> str:
        return "torch" if self.project_model else self.estimator.partition(".")[0]

    @property
    def classification(self) -> bool:
        return self.task == "classification"


XGB = {"n_estimators": 60, "max_depth": 4, "learning_rate": 0.3, "n_jobs": 1}
LGBM = {"n_estimators": 60, "num_leaves": 15, "verbose": -1, "n_jobs": 1}
CASES = {
    "xgboost-text-3-classes": Case(
        "xgboost.XGBClassifier",
        XGB,
        _three_kinds,
        {"type": "category", "categories": ["ham", "phish", "spam"]},
        classes=["ham", "phish", "spam"],
        booster="LabelledXGBClassifier",  # XGBClassifier itself refuses labels other than 0..n-1
    ),
    "lightgbm-binary": Case(
        "lightgbm.LGBMClassifier",
        LGBM,
        lambda f: f["is_spam"],
        {"type": "integer", "min": 0, "max": 1},
        classes=[0, 1],
    ),
    "lightgbm-regression": Case("lightgbm.LGBMRegressor", LGBM, _score, {"type": "number"}, "regression"),
    "catboost-binary": Case(
        "catboost.CatBoostClassifier",
        {"iterations": 60, "depth": 4, "thread_count": 1, "verbose": False},
        lambda f: f["is_spam"],
        {"type": "integer", "min": 0, "max": 1},
        classes=[0, 1],
    ),
    "pytorch-project-class": Case(
        "spam_net.SpamNet",
        {},
        lambda f: f["is_spam"],
        {"type": "integer", "min": 0, "max": 1},
        classes=[0, 1],
        project_model=True,
        min_accuracy=0.7,  # numbers and hashed words only (no categories): the drifted world is harder for it
    ),
}


def _policy(case: Case) -> dict[str, Any]:
    rollout: dict[str, Any] = {
        "canary_weight": 50,
        "canary_key": "message_id",
        "min_canary_rows": 100,
        "guard_rows": 0,
    }
    if case.classification:  # a regressor compares its mean absolute error (the policy's default)
        rollout["compare"] = [
            {"metric": "error_rate", "max_regression": 0.01},
            {"metric": "accuracy", "max_regression": 0.05},
        ]
    return {
        "triggers": {"schedule": "0s"},
        "cooldown": "1h",
        "include_feedback": True,
        "max_training_rows": 1000,  # the newest rows: the drifted world's feedback outweighs the old data
        "rollout": rollout,
    }


def _prepare(case: Case) -> Callable[[Path], None]:
    """The spam project with the case's label (column ``y``), estimator, metrics, gates and policy."""

    def prepare(root: Path) -> None:
        if case.project_model:
            use_project_model(root)  # spam_net.py beside the project file, the model's `model:` and columns
        data = root / "data" / "emails.csv"
        frame = pd.read_csv(data)
        frame.assign(y=case.label(frame)).to_csv(data, index=False)
        path = root / "mlfactory.yaml"
        config = yaml.safe_load(path.read_text())
        config["sources"]["emails"]["columns"]["y"] = {**case.schema, "nullable": False}
        metrics, gates = (
            (["accuracy", "f1"], [{"metric": "accuracy", "min": case.min_accuracy}])
            if case.classification
            else (["mae", "rmse", "r2"], [{"metric": "r2", "min": 0.6}])
        )
        config["models"]["spam"].update(
            label="y", task=case.task, metrics=metrics, gates=gates, policy=_policy(case)
        )
        if not case.project_model:
            config["models"]["spam"].update(estimator=case.estimator, params=case.params)
        path.write_text(yaml.safe_dump(config, sort_keys=False))

    return prepare


def _send(client: httpx.Client, frame: pd.DataFrame, case: Case) -> tuple[list[str], list[Any]]:
    """Post the emails in batches of 50, then every user's label back as feedback (in the label's own
    type: text for text labels); the request ids and the answers."""
    truth = case.label(frame).tolist()
    records = frame[["message_id", *FEATURES]].to_dict("records")
    ids: list[str] = []
    answers: list[Any] = []
    for i in range(0, len(records), 50):
        answer = client.post("/v1/models/spam/predict", json={"records": records[i : i + 50]})
        answer.raise_for_status()
        ids += answer.json()["request_ids"]
        answers += answer.json()["predictions"]
    labels = [{"request_id": r, "label": y} for r, y in zip(ids, truth, strict=True)]
    client.post("/v1/feedback", json={"labels": labels}).raise_for_status()
    return ids, answers


def _protocols_agree(client: httpx.Client, frame: pd.DataFrame, case: Case) -> None:
    """The same rows through the native API, V2 and /invocations: the same answers, in the label's type."""
    records = frame[FEATURES].to_dict("records")
    body = client.post("/v1/models/spam/predict", json={"records": records}).json()
    inputs = [
        {
            "name": c,
            "shape": [len(records)],
            "datatype": "INT64" if c in ("n_links", "n_attachments", "hour_sent") else "BYTES",
            "data": [r[c] for r in records],
        }
        for c in FEATURES
    ]
    v2 = client.post("/v2/models/spam/infer", json={"inputs": inputs})
    assert v2.status_code == 200, v2.text
    v2_predictions = next(o["data"] for o in v2.json()["outputs"] if o["name"] == "predict")
    mlflow = client.post("/invocations", json={"dataframe_records": records})
    assert mlflow.status_code == 200, mlflow.text
    assert v2_predictions == body["predictions"] == mlflow.json()["predictions"]
    if case.classification:  # the labels as declared, text included; one probability per class
        assert body["classes"] == case.classes
        assert set(body["predictions"]) <= set(case.classes)
        assert all(len(p) == len(case.classes) for p in body["probabilities"])
    else:
        assert all(isinstance(p, float) for p in body["predictions"])


def _train_first(project: Project, case: Case) -> None:
    result = project.train("spam")
    assert result.passed, result.gates
    stored = project.artifacts.get_bytes(result.version.artifact)
    assert project_models.is_project_model(stored) if case.project_model else native.is_native(stored)
    project.promote("spam", result.version.version, reason="the model's first version")
    loaded = project.registry.load("spam@production")
    trained = loaded.estimator.fitted if case.project_model else native.final_estimator(loaded.estimator)
    assert type(trained).__name__ == (case.booster or case.estimator.rpartition(".")[2])
    assert loaded.classes == case.classes


def _wait_for_routes(client: httpx.Client, versions: set[int]) -> None:
    for _ in range(200):
        if {r["version"] for r in client.get("/v1/models/spam").json()["routes"]} == versions:
            return
        time.sleep(0.05)
    raise AssertionError(f"the server never routed to {versions}")


@pytest.mark.parametrize("name", list(CASES))
def test_a_booster_is_retrained_on_feedback_canaried_and_promoted(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    pytest.importorskip(case.library)
    root = tmp_path / "spam"
    project = make_project(root, rows=1200, prepare=_prepare(case))
    _train_first(project, case)
    server_cfg = ServerConfig(reload_interval=0.1)
    server_cfg = server_cfg.model_copy(
        update={"prediction_log": server_cfg.prediction_log.model_copy(update={"flush_interval": 0.1})}
    )
    server = start_server(ServerSettings(project=root, env={}, server=server_cfg, routing_seed=1))
    world = World(3)
    log = Controller(project).predictions
    try:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            _protocols_agree(client, world.emails(40, 0.0), case)
            ids, answers = _send(client, world.emails(400, 1.0), case)  # the world changed
            assert log.wait_for(ids)
            logged = [log.find_request(r)[0] for r in ids[:20]]
            assert [(row.version, row.prediction) for row in logged] == [(1, a) for a in answers[:20]]

            step = Controller(project).tick()[0]
            assert step.action == "canary", step
            assert project.metadata.get_rollout("spam").challenger == 2
            assert project.metadata.get_model_version("spam", 2).lineage.feedback_rows == 400
            _wait_for_routes(client, {1, 2})
            actions = []
            for _ in range(6):  # bursts of labelled traffic until the canary decides
                ids, answers = _send(client, world.emails(200, 1.0), case)
                assert log.wait_for(ids)
                actions.append(Controller(project).tick()[0])
                if actions[-1].action != "waiting":
                    break
            assert actions[-1].action == "promoted", actions
            assert project.registry.resolve("spam").version == 2
            canary = [log.find_request(r)[0] for r in ids[:50]]
            assert {row.version for row in canary} == {1, 2}  # both sides answered the last burst
            assert [row.prediction for row in canary] == answers[:50]
            _wait_for_routes(client, {2})
            _protocols_agree(client, world.emails(30, 1.0), case)
    finally:
        server.stop()
        project.close()
