"""A whole project on Azure Blob (the loopback Azurite server): its source, dataset snapshots, artifacts,
batch scoring and the server's prediction log all under az:// URLs, the key coming from the environment
(AZURE_STORAGE_CONNECTION_STRING) and nothing of it in the project file."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from mlfactory.stores.artifacts import ObjectArtifactStore
from mlfactory.stores.fs import open_location
from mlfactory.stores.predictions import PredictionReader
from project_helpers import make_project
from serving_helpers import make_client, sample_records


def _move_to_container(container: Any) -> Any:
    def prepare(root: Path) -> None:
        lake = open_location(f"{container.url}/lake/emails", root)
        emails = pd.read_csv(root / "data" / "emails.csv")
        half = len(emails) // 2
        for name, part in (("a", emails.iloc[:half]), ("b", emails.iloc[half:])):
            buf = io.BytesIO()
            part.to_parquet(buf, index=False)
            lake.fs.pipe_file(lake.join(f"{name}.parquet"), buf.getvalue())
        emails.head(40).to_parquet(root / "batch.parquet", index=False)
        lake.fs.put_file(str(root / "batch.parquet"), f"{container.name}/batch/in.parquet")
        config = yaml.safe_load((root / "mlfactory.yaml").read_text())
        config.setdefault("stores", {}).update(
            artifacts=f"{container.url}/mlfactory/artifacts", datasets=f"{container.url}/mlfactory/datasets"
        )
        config["sources"]["emails"].update(kind="parquet", path=f"{container.url}/lake/emails/")
        (root / "mlfactory.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    return prepare


@pytest.mark.slow
def test_ingest_train_promote_score_and_log_on_azure_blob(azure_container: Any, tmp_path: Path) -> None:
    root = tmp_path / "p"
    project = make_project(root, rows=400, prepare=_move_to_container(azure_container))
    assert "AccountKey" not in (root / "mlfactory.yaml").read_text()
    store = project.artifacts
    assert isinstance(store, ObjectArtifactStore)
    dataset = project.metadata.list_datasets("emails")[0]
    assert dataset.valid and dataset.n_rows == 400
    version = project.train("spam").version
    project.promote("spam", version.version, reason="on azure")
    assert {version.artifact, dataset.artifact} <= set(store.digests())
    assert not (root / ".mlfactory" / "artifacts").exists()  # nothing of the store on local disk
    assert project.verify().ok

    summary = project.predict_file(
        "spam@production", f"{azure_container.url}/batch/in.parquet", f"{azure_container.url}/batch/out"
    )
    assert summary["rows"] == 40 and summary["bad_rows"] == 0
    out = open_location(f"{azure_container.url}/batch/out", root)
    scored = pd.concat(pd.read_parquet(io.BytesIO(out.fs.cat_file(p))) for p in sorted(out.fs.ls(out.root)))
    model = project.registry.load("spam@production")
    whole = model.predict_frame(pd.read_parquet(root / "batch.parquet"))
    assert scored["prediction"].tolist() == whole["prediction"].tolist()
    project.close()

    log_url = f"{azure_container.url}/mlfactory/predictions"
    records = sample_records(root, 25)
    with make_client(root, prediction_log={"path": log_url, "flush_interval": 0.2}) as client:
        r = client.post("/v1/models/spam/predict", json={"records": records})
        assert r.status_code == 200, r.text
        ids = r.json()["request_ids"]
    # the server flushed its log on the way out: every answered request is in the container, once
    logged = PredictionReader(open_location(log_url, root)).query(model="spam")
    assert sorted(logged["request_id"]) == sorted(ids)
    assert set(logged["version"]) == {version.version}
