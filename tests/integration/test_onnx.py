"""ONNX through the project: a registered version exported and checked on its own holdout, a model declared
``serving: {format: onnx}`` registered with a checked graph and served through ONNX Runtime by the app,
answering as the model does, and a registration refused when the graph answers differently."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest

from mlfactory.errors import ExportError, NotFoundError
from mlfactory.serving.onnx_served import OnnxServedVersion
from project_helpers import make_project, set_model
from serving_helpers import make_client, sample_records

pytestmark = pytest.mark.slow


def test_export_writes_a_graph_checked_on_the_versions_holdout(tmp_path: Path) -> None:
    root = tmp_path / "spam"
    with make_project(root, rows=800) as project:
        version = project.train("spam").version
        report = project.export_onnx("spam/1", tmp_path / "spam.onnx", tolerance=1e-4)
        loaded = project.registry.load(version)
    assert report.ref == "spam/1" and report.rows_checked == version.lineage.holdout_rows
    assert report.max_abs_diff <= 1e-4 and report.size == (tmp_path / "spam.onnx").stat().st_size
    # the file, opened by ONNX Runtime on its own, answers as the registered model
    session = ort.InferenceSession(str(tmp_path / "spam.onnx"))
    frame = loaded.rows(pd.DataFrame(sample_records(root, 50))).frame()
    feeds = {
        i.name: (
            frame[[i.name]].to_numpy(np.float32)
            if i.type == "tensor(float)"
            else frame[[i.name]].fillna("").astype(str).to_numpy(object)
        )
        for i in session.get_inputs()
    }
    labels, proba = session.run(None, feeds)
    pred, expected = loaded.predict(frame)
    assert labels.tolist() == pred.tolist()
    np.testing.assert_allclose(proba, expected, atol=1e-4)


def test_a_served_onnx_model_answers_as_the_model_through_the_app(tmp_path: Path) -> None:
    root = tmp_path / "spam"
    with make_project(root, rows=800, prepare=lambda r: set_model(r, serving={"format": "onnx"})) as project:
        version = project.train("spam").version
        project.promote("spam", version.version, reason="onnx")
        record = version.lineage.extra["onnx"]
        assert (
            project.artifacts.exists(record["artifact"])
            and record["rows_checked"] == version.lineage.holdout_rows
        )
        loaded = project.registry.load(version)
    records = sample_records(root, 40)
    native = loaded.predict_frame(pd.DataFrame(records))
    with make_client(root) as client:
        r = client.post("/v1/models/spam/predict", json={"records": records})
        served = client.app.state.runtime.versions.ensure("spam", version.version)  # type: ignore[attr-defined]
        bad = client.post("/v1/models/spam/predict", json={"records": [{**records[0], "n_links": "many"}]})
        inputs = [
            {
                "name": c,
                "shape": [len(records)],
                "datatype": "INT64" if c in ("n_links", "n_attachments", "hour_sent") else "BYTES",
                "data": [row[c] for row in records],
            }
            for c in records[0]
        ]
        v2 = client.post("/v2/models/spam/infer", json={"inputs": inputs})
        mlflow = client.post("/invocations", json={"dataframe_records": records})
    assert isinstance(served, OnnxServedVersion)
    assert v2.status_code == 200 and mlflow.status_code == 200, (v2.text, mlflow.text)
    v2_predictions = next(o["data"] for o in v2.json()["outputs"] if o["name"] == "predict")
    assert v2_predictions == mlflow.json()["predictions"] == native["prediction"].tolist()
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["version"] == version.version and body["classes"] == [0, 1]
    assert body["predictions"] == native["prediction"].tolist()
    np.testing.assert_allclose([p[1] for p in body["probabilities"]], native["proba_1"], atol=1e-4)
    assert bad.status_code == 422 and "n_links" in bad.text  # the native path's input checks


def test_registration_is_refused_when_the_graph_differs_beyond_the_tolerance(tmp_path: Path) -> None:
    root = tmp_path / "spam"
    serving = {"format": "onnx", "tolerance": 0.0}  # float32 arithmetic never matches to the last bit
    with make_project(root, rows=800, prepare=lambda r: set_model(r, serving=serving)) as project:
        with pytest.raises(
            ExportError,
            match=r"the new version of 'spam''s ONNX model answers differently on \d+ of \d+ holdout rows"
            r".*\): row \d+: model [01] \[[^]]+\], ONNX [01] \[",
        ):
            project.train("spam")
        with pytest.raises(NotFoundError):
            project.registry.resolve("spam/1")
