"""A gradient-boosting version exported for MLflow: the loader the export ships (run from the export's own
``code/`` folder, as MLflow imports it) rebuilds the booster from its library's file and answers as the
registered version does."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest
import yaml

from project_helpers import make_project, set_model
from serving_helpers import sample_records

pytestmark = pytest.mark.slow

ESTIMATORS = {
    "xgboost": ("xgboost.XGBClassifier", {"n_estimators": 30, "max_depth": 3}),
    "lightgbm": ("lightgbm.LGBMClassifier", {"n_estimators": 30, "num_leaves": 7, "verbose": -1}),
    "catboost": ("catboost.CatBoostClassifier", {"iterations": 30, "depth": 3, "verbose": False}),
}


def _shipped_loader(export: Path) -> ModuleType:
    """The loader module as the export holds it (not mlfactory's copy)."""
    spec = importlib.util.spec_from_file_location("mlfactory_loader", export / "code" / "mlfactory_loader.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("library", list(ESTIMATORS))
def test_an_exported_booster_answers_as_its_version(
    library: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip(library)
    monkeypatch.chdir(tmp_path)  # where CatBoost leaves its training logs
    estimator, params = ESTIMATORS[library]
    root = tmp_path / "spam"
    with make_project(
        root, rows=1000, prepare=lambda r: set_model(r, estimator=estimator, params=params)
    ) as p:
        version = p.train("spam").version
        out = p.export_mlflow(version.ref, tmp_path / "export")
        rows = pd.DataFrame(sample_records(root, 30))
        ours, _ = p.registry.load(version).predict(rows)
    config = json.loads((out / "model" / "mlfactory-model.json").read_text())
    assert config["booster"]["library"] == library
    assert (out / "model" / config["booster"]["file"]).is_file()
    assert list(yaml.safe_load((out / "MLmodel").read_text())["flavors"]) == [
        "python_function"
    ]  # no skops-only
    assert f"{library}==" in (out / "requirements.txt").read_text()
    model = _shipped_loader(out)._load_pyfunc(str(out / "model"))
    assert model.predict(rows).tolist() == ours.tolist()
