"""A model written in the project (a small PyTorch network, ``spam_net.SpamNet`` beside mlfactory.yaml)
through the whole loop: ingested data, trained, gated, registered as safetensors, JSON and its own code,
served through the app's three protocols, labelled, monitored, retrained on the labels and promoted; its
lineage names the code it ran; tampered weights, a pickle at save and a crashing predict are each refused
cleanly; versions with different code each run their own."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from mlfactory.control.feedback import feedback_training_rows
from mlfactory.errors import IntegrityError, TrainingError
from mlfactory.estimators.project_class import ProjectModel
from mlfactory.project import Project, open_project
from mlfactory.registry import project_models
from project_helpers import cli_command, trained_project
from project_model_helpers import NUMERIC, SOURCE, TEXT, use_project_model, variant, write_module
from serving_helpers import make_client

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.slow

COLUMNS = [*NUMERIC, *TEXT]


def _project(dest: Path) -> Project:
    """The spam project with SpamNet as its model, version 1 trained and in production (a copy of a
    template built once per session)."""
    trained_project(dest, prepare=use_project_model, variant="spam_net")
    return open_project(dest, env={}, actor="test")


def _records(root: Path, start: int, n: int) -> list[dict[str, Any]]:
    frame = pd.read_csv(root / "data" / "emails.csv").iloc[start : start + n][COLUMNS]
    return [{k: (None if pd.isna(v) else v) for k, v in r.items()} for r in frame.to_dict("records")]


def _v2_inputs(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "name": c,
            "shape": [len(records)],
            "datatype": "INT64" if c in NUMERIC else "BYTES",
            "data": [r[c] for r in records],
        }
        for c in COLUMNS
    ]


def _predict(client: TestClient, records: list[dict[str, Any]], version: int | None = None) -> Any:
    path = "/v1/models/spam/predict" if version is None else f"/v1/models/spam/versions/{version}/predict"
    r = client.post(path, json={"records": records})
    assert r.status_code == 200, r.text
    return r.json()


def test_a_pytorch_model_goes_through_train_serve_feedback_monitor_retrain_and_promotion(
    tmp_path: Path,
) -> None:
    root = tmp_path / "spam"
    with _project(root) as project:
        v1 = project.version("spam/1")
        assert v1.status.value == "ready" and "production" in v1.aliases and v1.gates
        assert all(g.passed for g in v1.gates) and v1.metrics["accuracy"] > 0.9
        assert project_models.is_project_model(project.artifacts.get_bytes(v1.artifact))
        text = (root / "spam_net.py").read_text()
        assert (v1.lineage.model_module, v1.lineage.model_module_sha256) == (
            "spam_net.py",
            hashlib.sha256(text.encode()).hexdigest(),
        )
        assert v1.lineage.estimator == "spam_net.SpamNet"
        loaded = project.registry.load("spam@production")
        assert isinstance(loaded.estimator, ProjectModel)
    records = _records(root, 0, 40)
    offline, proba = loaded.predict(pd.DataFrame(records))
    assert proba is not None
    threads = sys.modules[type(loaded.estimator.fitted).__module__].THREADS  # the server runs this module too
    torch.set_num_threads(2)  # more than the server below allows
    with make_client(root, batching={"native_threads": 1}) as client:
        threads.clear()
        native = _predict(client, records)
        assert threads and set(threads) == {1}, threads  # PyTorch predicted on the server's one thread
        assert native["version"] == 1 and native["classes"] == [0, 1]
        assert native["predictions"] == offline.tolist()
        assert np.asarray(native["probabilities"]) == pytest.approx(proba, rel=1e-6)
        v2 = client.post("/v2/models/spam/infer", json={"inputs": _v2_inputs(records[:5])})
        assert v2.status_code == 200, v2.text
        outputs = {o["name"]: o for o in v2.json()["outputs"]}
        assert outputs["predict"]["data"] == offline[:5].tolist()
        assert outputs["probabilities"]["shape"] == [5, 2]
        mlflow = client.post("/invocations", json={"dataframe_records": records[:5]})
        assert mlflow.status_code == 200 and mlflow.json() == {"predictions": offline[:5].tolist()}
        truth = pd.read_csv(root / "data" / "emails.csv")["is_spam"].iloc[:40].tolist()
        labels = [
            {"request_id": rid, "label": y} for rid, y in zip(native["request_ids"], truth, strict=True)
        ]
        fb = client.post("/v1/feedback", json={"labels": labels})
        assert fb.status_code == 200 and fb.json()["accepted"] == 40, fb.text
        client.app.state.prediction_log.flush()  # type: ignore[attr-defined]

    with open_project(root, env={}, actor="test") as project:
        reports = [r for r in project.monitor("spam", seconds=3600) if r.version == 1]
        assert [r.rows for r in reports] == [40 + 5 + 5]  # native, V2 and MLflow requests alike
        realized = reports[0].metrics.get("performance.accuracy")
        assert realized == pytest.approx(np.mean(np.asarray(offline) == np.asarray(truth)))
        name, model = project.model_config("spam")
        rows = feedback_training_rows(project.predictions, project.metadata, name, model)
        retrained = project.train("spam", feedback=rows)
        assert retrained.passed and retrained.version.version == 2
        assert retrained.version.lineage.feedback_rows == 40
        assert retrained.version.lineage.champion == "spam/1"
        project.promote("spam", 2, reason="retrained on labelled traffic")
    with make_client(root) as client:
        assert _predict(client, records[:3])["version"] == 2


def test_lineage_names_the_code_and_batch_scoring_runs_it(tmp_path: Path) -> None:
    root = tmp_path / "spam"
    with _project(root) as project:
        source = tmp_path / "score.csv"
        pd.read_csv(root / "data" / "emails.csv").head(200).to_csv(source, index=False)
        project.predict_file("spam", source, tmp_path / "scored.csv")
        expected = project.registry.load("spam@production").predict_frame(pd.read_csv(source))
    scored = pd.read_csv(tmp_path / "scored.csv")
    assert scored["prediction"].tolist() == expected["prediction"].tolist()
    assert scored["proba_1"].to_numpy() == pytest.approx(expected["proba_1"].to_numpy(), rel=1e-6)
    sha = hashlib.sha256((root / "spam_net.py").read_bytes()).hexdigest()
    shown = subprocess.run(
        cli_command(root, "models", "show", "spam/1", "--json"), capture_output=True, text=True, check=True
    )
    lineage = json.loads(shown.stdout)["lineage"]
    assert (lineage["model_module"], lineage["model_module_sha256"]) == ("spam_net.py", sha)
    traced = subprocess.run(
        cli_command(root, "lineage", "spam/1", "--json"), capture_output=True, text=True, check=True
    )
    upstream = json.loads(traced.stdout)["upstream"]
    assert (upstream["model_module"], upstream["model_module_sha256"]) == ("spam_net.py", sha)


def test_tampered_weights_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "spam"
    with _project(root) as project:
        v1 = project.version("spam/1")
        data = project.artifacts.get_bytes(v1.artifact)
        archive = zipfile.ZipFile(io.BytesIO(data))
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as z:
            for name in archive.namelist():
                content = archive.read(name)
                if name == "files/weights.safetensors":
                    content = content[:-4] + b"\x00\x00\x80\x3f"  # one weight set to 1.0
                z.writestr(name, content)
        with pytest.raises(IntegrityError, match=r"files/weights\.safetensors does not match the hash"):
            project_models.load(out.getvalue(), v1.ref)
        # the stored artifact itself changed on disk: the artifact store refuses it first
        path = project.artifacts.local_path(v1.artifact)
        path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
        with pytest.raises(IntegrityError):
            project.registry.load("spam/1")


def test_a_class_saving_a_pickle_is_refused_at_registration(tmp_path: Path) -> None:
    root = tmp_path / "spam"
    with _project(root) as project:
        write_module(root, variant(extra_file="model.pkl"))
        with pytest.raises(TrainingError, match=r"wrote 'model\.pkl'.*only \.safetensors"):
            project.train("spam")
        assert [v.version for v in project.versions("spam")] == [1]


def test_a_predict_that_raises_answers_an_error_and_the_server_keeps_serving(tmp_path: Path) -> None:
    root = tmp_path / "spam"
    with _project(root) as project:
        write_module(root, variant(fail_on="boom"))
        project.promote("spam", project.train("spam").version.version, reason="fails on one subject")
    good = _records(root, 0, 3)
    bad = [{**good[0], "subject": "boom"}]
    with make_client(root) as client:
        for path, body in (
            ("/v1/models/spam/predict", {"records": bad}),
            ("/invocations", {"dataframe_records": bad}),
        ):
            r = client.post(path, json=body)
            assert r.status_code == 503, r.text
            assert "model spam/2 failed to predict these rows" in r.text, r.text
            assert "cannot take this subject" not in r.text  # the details go to the server log only
        v2 = client.post("/v2/models/spam/infer", json={"inputs": _v2_inputs(bad)})
        assert v2.status_code == 503 and "spam/2 failed" in v2.text, v2.text
        after = _predict(client, good)
        assert after["version"] == 2 and len(after["predictions"]) == 3
    with open_project(root, env={}, actor="test") as project:
        failed = project.metadata.list_events(model="spam", kinds=["serving.predict_failed"])
    assert sum(e.payload["rows"] for e in failed) == 3 and {e.payload["version"] for e in failed} == {2}


def test_versions_with_different_code_each_run_their_own_and_a_rollback_runs_the_old(
    tmp_path: Path,
) -> None:
    root = tmp_path / "spam"
    with _project(root) as project:
        records = _records(root, 0, 20)
        with make_client(root) as client:
            first = _predict(client, records)
        write_module(root, variant(temperature=4.0))
        second = project.train("spam")
        assert second.passed, second.gates
        old, new = project.version("spam/1"), second.version
        assert old.lineage.model_module_sha256 != new.lineage.model_module_sha256
        project.promote("spam", new.version, reason="new code")
        with make_client(root) as client:
            served_new = _predict(client, records)
            served_old = _predict(client, records, version=1)
        assert served_new["version"] == 2 and served_old["version"] == 1
        assert served_old["probabilities"] == first["probabilities"]
        # the new code's probabilities are its logits over 4: nearer one half than the old code's
        spread = [np.abs(np.asarray(s["probabilities"])[:, 1] - 0.5) for s in (served_old, served_new)]
        assert (spread[1] < spread[0]).all()
        loaded = [project.registry.load(f"spam/{v}").estimator for v in (1, 2)]
        modules = [type(m.fitted).__module__ for m in loaded]
        assert modules[0] != modules[1]
        write_module(root, SOURCE)  # the file changes again: neither version reads it
        project.rollback("spam", reason="roll back")
    with make_client(root) as client:
        rolled_back = _predict(client, records)
    assert rolled_back["version"] == 1 and rolled_back["probabilities"] == first["probabilities"]
