"""A numeric model's records bodies decoded straight into numbers: the same answers as every other body
shape, bad bodies still named by the general checks, and routing by a row field still honoured."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from fastapi.testclient import TestClient
from sklearn.datasets import load_breast_cancer

from mlfactory import open_project
from mlfactory.inputs import InputSpec
from mlfactory.serving import deploy_ab, deploy_clear
from serving_helpers import make_client

NAME = "cancer"


@pytest.fixture(scope="module")
def numeric_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("numeric")
    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    (root / "data").mkdir()
    frame.to_csv(root / "data" / "cancer.csv", index=False)
    features = [c for c in frame.columns if c != "target"]
    project_file = {
        "name": "numeric",
        "sources": {"cancer": {"kind": "csv", "path": "data/cancer.csv"}},
        "models": {
            NAME: {
                "source": "cancer",
                "label": "target",
                "features": {"numeric": features},
                "estimator": "sklearn.ensemble.HistGradientBoostingClassifier",
                "params": {"max_iter": 20, "random_state": 0},
                "preprocess": False,
                "metrics": ["accuracy"],
            }
        },
    }
    (root / "mlfactory.yaml").write_text(yaml.safe_dump(project_file, sort_keys=False))
    with open_project(root) as project:
        project.ingest("cancer")
        for _ in range(2):  # two versions, for the A/B split
            project.train(NAME)
        project.promote(NAME, 1, reason="numeric records test")
    return root


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each request's body was decoded by the typed path (True) or left to the general one."""
    seen: list[bool] = []
    original = InputSpec.decode_records

    def spy(self: InputSpec, body: bytes) -> Any:
        out = original(self, body)
        seen.append(out is not None)
        return out

    monkeypatch.setattr(InputSpec, "decode_records", spy)
    return seen


@pytest.fixture
def client(numeric_project: Path) -> Iterator[TestClient]:
    with make_client(numeric_project) as c:
        yield c


def _rows(root: Path, n: int) -> list[dict[str, Any]]:
    frame = load_breast_cancer(as_frame=True).frame.drop(columns="target").head(n)
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    return frame.to_dict(orient="records")  # type: ignore[no-any-return]


def test_same_answers_as_the_model_and_other_body_shapes(
    client: TestClient, numeric_project: Path, decoded: list[bool]
) -> None:
    rows = _rows(numeric_project, 40)
    url = f"/v1/models/{NAME}/predict"
    fast = client.post(url, json={"records": rows})
    assert fast.status_code == 200 and decoded == [True]
    columns = {k: [r[k] for r in rows] for k in rows[0]}
    general = client.post(url, json={"columns": columns})
    assert general.status_code == 200
    for key in ("predictions", "probabilities", "versions"):
        assert fast.json()[key] == general.json()[key]
    with open_project(numeric_project) as project:
        loaded = project.registry.load(f"{NAME}@production")
        expected = loaded.estimator.predict_proba(pd.DataFrame(rows))
    np.testing.assert_allclose(np.array(fast.json()["probabilities"]), expected, rtol=1e-12)


def test_bad_bodies_are_named_by_the_general_checks(
    client: TestClient, numeric_project: Path, decoded: list[bool]
) -> None:
    url = f"/v1/models/{NAME}/predict"
    rows = _rows(numeric_project, 3)
    text = client.post(url, json={"records": [rows[0], {**rows[1], "mean_radius": "large"}]})
    assert text.status_code == 422
    assert "column 'mean_radius' (number) row 1" in text.json()["error"]
    missing = client.post(url, json={"records": [{k: v for k, v in rows[0].items() if k != "mean_area"}]})
    assert missing.status_code == 422 and "mean_area" in missing.json()["error"]
    columns = {k: [r[k] for r in rows] for k in rows[0]}
    both = client.post(url, json={"records": rows, "columns": columns})
    assert both.status_code == 422 and "send exactly one of 'records'" in both.json()["error"]
    assert decoded == [False, False, False]


def test_routing_by_a_row_field_reads_the_rows(numeric_project: Path, decoded: list[bool]) -> None:
    with open_project(numeric_project) as project:
        deploy_ab(project.metadata, NAME, [(1, 50.0), (2, 50.0)], key="user", actor="test")
    try:
        with make_client(numeric_project) as c:
            rows = [{**r, "user": f"u{i}"} for i, r in enumerate(_rows(numeric_project, 60))]
            first = c.post(f"/v1/models/{NAME}/predict", json={"records": rows}).json()["versions"]
            again = c.post(f"/v1/models/{NAME}/predict", json={"records": rows}).json()["versions"]
        assert set(first) == {1, 2} and first == again  # split by user, sticky
        assert True not in decoded  # the typed path cannot see 'user', so it stood aside
    finally:
        with open_project(numeric_project) as project:
            deploy_clear(project.metadata, NAME, actor="test")
