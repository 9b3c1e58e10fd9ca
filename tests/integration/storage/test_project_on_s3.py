"""A whole project off one disk: artifacts, dataset snapshots and its source on the loopback S3 server.

Ingest, train and register through the bucket; `mlfactory verify` passes; then a byte flipped in the bucket
makes loading the model fail naming its digest and URL, and `mlfactory verify` exit 7.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from mlfactory.errors import IntegrityError
from mlfactory.project import open_project
from mlfactory.stores.artifacts import ObjectArtifactStore
from project_helpers import cli_command, make_project


def _move_to_bucket(bucket: Any) -> Any:
    def prepare(root: Path) -> None:
        import s3fs

        fs = s3fs.S3FileSystem(endpoint_url=bucket.storage_options["endpoint_url"])
        emails = pd.read_csv(root / "data" / "emails.csv")
        half = len(emails) // 2
        for name, part in (("a", emails.iloc[:half]), ("b", emails.iloc[half:])):
            buf = io.BytesIO()
            part.to_parquet(buf, index=False)
            fs.pipe_file(f"{bucket.name}/lake/emails/{name}.parquet", buf.getvalue())
        (root / "data" / "emails.csv").unlink()  # the bucket is the only copy
        config = yaml.safe_load((root / "mlfactory.yaml").read_text())
        config.setdefault("stores", {}).update(
            artifacts=f"{bucket.url}/mlfactory/artifacts",
            datasets=f"{bucket.url}/mlfactory/datasets",
            storage_options=bucket.storage_options,
        )
        config["sources"]["emails"].update(kind="parquet", path=f"{bucket.url}/lake/emails/")
        (root / "mlfactory.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    return prepare


@pytest.mark.slow
def test_ingest_train_register_and_verify_on_a_bucket(s3_bucket: Any, tmp_path: Path) -> None:
    root = tmp_path / "p"
    project = make_project(root, rows=400, prepare=_move_to_bucket(s3_bucket))
    store = project.artifacts
    assert isinstance(store, ObjectArtifactStore)
    version = project.train("spam").version
    dataset = project.metadata.list_datasets("emails")[0]
    assert dataset.valid and dataset.n_rows == 400
    assert {version.artifact, dataset.artifact} <= set(store.digests())
    assert not (root / ".mlfactory" / "artifacts").exists()  # nothing of the store on local disk
    assert project.verify().ok
    project.close()

    command = cli_command(root, "verify")
    clean = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert clean.returncode == 0, clean.stderr

    key = store.location.join(version.artifact[:2], version.artifact[2:])
    data = bytearray(store.location.fs.cat_file(key))
    data[len(data) // 2] ^= 0x01
    store.location.fs.pipe_file(key, bytes(data))

    with open_project(root, env={}, actor="test") as reopened:
        with pytest.raises(IntegrityError) as err:
            reopened.registry.load(f"spam/{version.version}")
        assert version.artifact[:12] in str(err.value)
        assert f"{s3_bucket.url}/mlfactory/artifacts/{version.artifact[:2]}/" in str(err.value)
    broken = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert broken.returncode == 7 and "artifact.modified" in broken.stdout + broken.stderr, broken.stderr
