"""MLflow both ways, against the real MLflow (its own venv): an export served by `mlflow models serve`
answers as mlfactory does; a store MLflow wrote is imported with its versions, runs, aliases and provenance,
pickles only with --trust; and the `export` / `import mlflow` commands as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import yaml

from mlfactory.errors import ConfigError
from mlfactory.project import open_project
from mlfactory.registry import mlflow_pyfunc
from mlflow_helpers import mlflow_python, mlflow_serving, run_script
from project_helpers import trained_project
from serving_helpers import make_client, sample_records

pytestmark = pytest.mark.slow

# Three versions of one registered model, as a user of MLflow logs them: 1 and 2 pickled (cloudpickle), 3
# with skops under MLflow 3 (its default since 3.17; MLflow 2 pickles it too); metrics over several steps,
# params, tags, the alias champion on 2. It prints the rows and each version's predictions as MLflow's own
# pyfunc loader gives them.
WRITE_STORE = """
import json, os, sys
import mlflow, numpy as np, pandas as pd
from mlflow import MlflowClient
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "true"  # only to read the predictions back
mlflow.set_tracking_uri(sys.argv[1])
major = int(mlflow.__version__.split(".")[0])
where = {"name": "model"} if major >= 3 else {"artifact_path": "model"}
formats = ["cloudpickle", "cloudpickle", "skops" if major >= 3 else "cloudpickle"]
rng = np.random.default_rng(3)
n = 300
X = pd.DataFrame({
    "amount": rng.gamma(2.0, 50.0, n),
    "n_items": rng.integers(1, 9, n),
    "country": rng.choice(["fr", "de", "us"], n),
})
y = np.where((X.amount > 100) ^ (X.country == "us"), "fraud", "ok")
rows = X.sample(12, random_state=1).reset_index(drop=True)
out = {"rows": json.loads(rows.to_json(orient="split", index=False)), "versions": {}}
for i, (C, fmt) in enumerate(zip([0.05, 1.0, 20.0], formats), start=1):
    with mlflow.start_run() as run:
        model = Pipeline([
            ("prep", ColumnTransformer([
                ("num", StandardScaler(), ["amount", "n_items"]),
                ("cat", OneHotEncoder(handle_unknown="ignore"), ["country"]),
            ])),
            ("clf", LogisticRegression(C=C)),
        ]).fit(X, y)
        mlflow.log_params({"C": C, "format": fmt})
        for step in range(3):
            mlflow.log_metric("accuracy", 0.7 + 0.1 * i + 0.01 * step, step=step)
        mlflow.set_tag("team", "payments")
        registered = {"registered_model_name": "fraud"} if i < 3 else {}
        mlflow.sklearn.log_model(
            model, serialization_format=fmt, input_example=X.head(3), **where, **registered
        )
    if i == 3:  # registered afterwards from the run, as `mlflow.register_model("runs:/...")` does
        mlflow.register_model(f"runs:/{run.info.run_id}/model", "fraud")
    loaded = mlflow.pyfunc.load_model(f"models:/fraud/{i}")
    source = MlflowClient().get_model_version("fraud", str(i)).source
    out["versions"][str(i)] = {
        "run_id": run.info.run_id, "source": source, "predictions": loaded.predict(rows).tolist()
    }
MlflowClient().set_registered_model_alias("fraud", "champion", 2)
if major < 3:  # MLflow 2's stages: mlfactory takes them as aliases too
    MlflowClient().transition_model_version_stage("fraud", "3", "Staging")
print(json.dumps(out))
"""


def _store(python: Path, folder: Path) -> dict[str, Any]:
    """An MLflow SQLite store written by MLflow itself, and what MLflow predicted for each version."""
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    written = json.loads(run_script(python, WRITE_STORE, uri, cwd=folder).strip().splitlines()[-1])
    return {"uri": uri, **written}


@pytest.fixture(scope="module")
def mlflow_py() -> Path:
    return mlflow_python(3)


@pytest.fixture(scope="module")
def mlflow_store(mlflow_py: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return {"major": 3, **_store(mlflow_py, tmp_path_factory.mktemp("mlflow3-store"))}


@pytest.fixture(scope="module")
def mlflow2_store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The same store written by MLflow 2: versions are run artifacts, not logged models."""
    return {"major": 2, **_store(mlflow_python(2), tmp_path_factory.mktemp("mlflow2-store"))}


def _rows(store: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(store["rows"]["data"], columns=store["rows"]["columns"])


def test_pickled_models_are_refused_without_trust(mlflow_store: dict[str, Any], tmp_path: Path) -> None:
    root = trained_project(tmp_path / "p")
    with open_project(root, env={}, actor="test") as project:
        with pytest.raises(ConfigError, match="--trust") as refused:
            project.import_mlflow(mlflow_store["uri"], "fraud")
        assert "pickled" in str(refused.value) and "1 (cloudpickle), 2 (cloudpickle)" in str(refused.value)
        assert "fraud" not in project.model_names()  # nothing half-imported


@pytest.mark.parametrize("store", ["mlflow_store", "mlflow2_store"])
def test_import_keeps_versions_runs_aliases_provenance_and_answers(
    store: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    mlflow_store: dict[str, Any] = request.getfixturevalue(store)
    skops_version = 3 if mlflow_store["major"] == 3 else None
    root = trained_project(tmp_path / "p")
    rows = _rows(mlflow_store)
    with open_project(root, env={}, actor="test") as project:
        report = project.import_mlflow(mlflow_store["uri"], "fraud", trust=True)
        assert [(v.mlflow_version, v.version) for v in report.imported] == [
            (1, "fraud/1"),
            (2, "fraud/2"),
            (3, "fraud/3"),
        ]
        staged = {"staging": 3} if mlflow_store["major"] == 2 else {}
        assert project.aliases("fraud") == {"production": 2, **staged}
        for mv in project.versions("fraud"):
            mlflow_version = mlflow_store["versions"][str(mv.version)]
            provenance = mv.lineage.extra["mlflow"]
            assert provenance["tracking_uri"] == mlflow_store["uri"]
            assert (provenance["model"], provenance["version"]) == ("fraud", mv.version)
            assert provenance["run_id"] == mlflow_version["run_id"]
            assert provenance["source"] == mlflow_version["source"]
            assert provenance["serialization_format"] == (
                "skops" if mv.version == skops_version else "cloudpickle"
            )
            assert mv.flavor == "skops" and mv.metrics == {"accuracy": pytest.approx(0.72 + 0.1 * mv.version)}
            assert [c.name for c in mv.signature.inputs] == ["amount", "n_items", "country"]
            assert [c.type for c in mv.signature.inputs] == ["number", "integer", "category"]
            run = project.metadata.get_run(mv.run_id or "")
            assert run.params["format"] == provenance["serialization_format"]
            assert run.tags["team"] == "payments" and run.tags["mlflow_run_id"] == provenance["run_id"]
            history = project.metadata.metric_history(run.id, "accuracy")
            assert [m.step for m in history] == [0, 1, 2]
            predictions, _ = project.registry.load(mv).predict(rows)
            assert predictions.tolist() == mlflow_version["predictions"]
        again = project.import_mlflow(mlflow_store["uri"], "fraud", trust=True)
        assert again.imported == [] and again.skipped == [1, 2, 3]
    body = {"dataframe_split": mlflow_store["rows"]}
    with make_client(root) as client:  # served from its alias, though mlfactory.yaml does not declare it
        answer = client.post("/models/fraud/invocations", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"] == mlflow_store["versions"]["2"]["predictions"]


def test_export_is_served_by_mlflow_as_mlfactory_serves_it(mlflow_py: Path, tmp_path: Path) -> None:
    root = trained_project(tmp_path / "p")
    out = tmp_path / "spam-mlflow"
    with open_project(root, env={}, actor="test") as project:
        assert project.export_mlflow("spam@production", out) == out
    mlmodel = yaml.safe_load((out / "MLmodel").read_text())
    assert mlmodel["metadata"]["mlfactory_model"] == "spam/1"
    assert mlmodel["flavors"]["python_function"]["loader_module"] == "mlfactory_loader"
    assert not [p for p in out.rglob("*") if p.suffix in (".pkl", ".pickle", ".joblib")]
    records = sample_records(root, 20)
    records[0]["subject"], records[1]["n_links"], records[2]["language"] = None, None, None  # missing values
    columns = list(records[0])
    body = {"dataframe_split": {"columns": columns, "data": [[r[c] for c in columns] for r in records]}}
    with make_client(root) as client:
        ours = client.post("/invocations", json=body)
    assert ours.status_code == 200, ours.text
    with mlflow_serving(mlflow_py, out, tmp_path / "serve.log") as url:
        theirs = httpx.post(f"{url}/invocations", json=body, timeout=60)
        example = httpx.post(
            f"{url}/invocations",
            content=(out / "serving_input_example.json").read_bytes(),
            headers={"content-type": "application/json"},
            timeout=60,
        )
    assert theirs.status_code == 200, theirs.text
    assert theirs.json()["predictions"] == ours.json()["predictions"]
    assert example.status_code == 200, example.text


def test_the_exported_loader_refuses_changed_files(tmp_path: Path) -> None:
    root = trained_project(tmp_path / "p")
    out = tmp_path / "x"
    with open_project(root, env={}, actor="test") as project:
        project.export_mlflow("spam/1", out)
    loaded = mlflow_pyfunc._load_pyfunc(str(out / "model"))
    assert len(loaded.predict(pd.DataFrame(sample_records(root, 3)))) == 3
    skops_file = out / "model" / "pipeline.skops"
    skops_file.write_bytes(skops_file.read_bytes() + b"\0")
    with pytest.raises(ValueError, match="does not match the hash"):
        mlflow_pyfunc._load_pyfunc(str(out / "model"))


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlfactory.cli.main", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_the_commands(mlflow_store: dict[str, Any], tmp_path: Path) -> None:
    root = trained_project(tmp_path / "p")
    uri = mlflow_store["uri"]
    refused = cli("import", "mlflow", "--tracking-uri", uri, "--model", "fraud", cwd=root)
    assert refused.returncode == ConfigError.exit_code and "--trust" in refused.stderr
    unknown = cli("import", "mlflow", "--tracking-uri", uri, "--model", "nope", cwd=root)
    assert unknown.returncode == 4 and "fraud" in unknown.stderr  # names the models it has
    done = cli("import", "mlflow", "--tracking-uri", uri, "--model", "fraud", "--trust", "--json", cwd=root)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [v["version"] for v in report["imported"]] == ["fraud/1", "fraud/2", "fraud/3"]
    assert report["imported"][1]["aliases"] == ["production"]
    table = cli("import", "mlflow", "--tracking-uri", uri, "--model", "fraud", "--trust", cwd=root)
    assert table.returncode == 0 and "imported before" in table.stdout

    out = tmp_path / "fraud-mlflow"
    exported = cli("export", "fraud/3", "--format", "mlflow", "--output", str(out), "--json", cwd=root)
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["output"] == str(out)
    assert yaml.safe_load((out / "MLmodel").read_text())["metadata"]["mlfactory_model"] == "fraud/3"
    again = cli("export", "fraud/3", "--format", "mlflow", "--output", str(out), cwd=root)
    assert again.returncode == 5 and "not an empty folder" in again.stderr
    tolerance = cli("export", "fraud/3", "--output", str(tmp_path / "y"), "--tolerance", "1e-3", cwd=root)
    assert tolerance.returncode == ConfigError.exit_code and "--format onnx" in tolerance.stderr

    graph = tmp_path / "spam.onnx"
    onnx = cli(
        "export",
        "spam/1",
        "--format",
        "onnx",
        "--output",
        str(graph),
        "--tolerance",
        "1e-3",
        "--json",
        cwd=root,
    )
    assert onnx.returncode == 0, onnx.stderr
    checked = json.loads(onnx.stdout)
    assert checked["ref"] == "spam/1" and checked["tolerance"] == 1e-3 and checked["rows_checked"] > 0
    assert graph.stat().st_size == checked["size"] and checked["max_abs_diff"] <= 1e-3
