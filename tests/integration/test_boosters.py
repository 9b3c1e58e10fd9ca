"""Gradient-boosting libraries through the whole loop: the spam project trained with XGBoost, LightGBM and
CatBoost, gated, registered in the library's own format, promoted, served through the app and scored in
batch, every answer the registered version's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlfactory.registry import native
from project_helpers import make_project, set_model
from serving_helpers import make_client, sample_records

pytestmark = pytest.mark.slow

ESTIMATORS = {
    "xgboost": ("xgboost.XGBClassifier", {"n_estimators": 60, "max_depth": 4, "learning_rate": 0.3}),
    "lightgbm": ("lightgbm.LGBMClassifier", {"n_estimators": 60, "num_leaves": 15, "verbose": -1}),
    "catboost": ("catboost.CatBoostClassifier", {"iterations": 60, "depth": 4, "verbose": False}),
}


@pytest.mark.parametrize("library", list(ESTIMATORS))
def test_a_booster_goes_through_train_gate_register_serve_and_batch(
    library: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip(library)
    monkeypatch.chdir(tmp_path)  # where a library would leave training logs (CatBoost's catboost_info/)
    estimator, params = ESTIMATORS[library]

    def use_booster(root: Path) -> None:
        set_model(root, estimator=estimator, params=params)

    root = tmp_path / "spam"
    with make_project(root, rows=1200, prepare=use_booster) as project:
        result = project.train("spam")
        assert [g.passed for g in result.gates] == [True] * len(result.gates), result.gates
        assert result.passed
        data = project.artifacts.get_bytes(result.version.artifact)
        assert native.is_native(data)
        project.promote("spam", result.version.version, reason="booster")
        loaded = project.registry.load("spam@production")
        assert type(loaded.estimator.steps[-1][1]).__name__ == estimator.rpartition(".")[2]

        records = sample_records(root, 20)
        offline = loaded.predict_frame(pd.DataFrame(records))
        with make_client(root) as client:
            r = client.post("/v1/models/spam/predict", json={"records": records})
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        assert body["version"] == result.version.version and body["classes"] == [0, 1]
        assert body["predictions"] == offline["prediction"].tolist()
        # XGBoost answers in float32: JSON carries the float32 value, shortest form
        assert [p[1] for p in body["probabilities"]] == pytest.approx(offline["proba_1"].tolist(), rel=1e-6)

        source = tmp_path / "score.csv"
        pd.read_csv(root / "data" / "emails.csv").head(300).to_csv(source, index=False)
        out = tmp_path / "scored.csv"
        report = project.predict_file("spam", source, out)
        scored = pd.read_csv(out)
        expected = loaded.predict_frame(pd.read_csv(source))
    assert len(scored) == 300, report
    assert sorted(p.name for p in tmp_path.iterdir()) == ["score.csv", "scored.csv", "spam"]
    assert scored["prediction"].tolist() == expected["prediction"].tolist()
    assert scored["proba_1"].to_numpy() == pytest.approx(expected["proba_1"].to_numpy(), rel=1e-6)
