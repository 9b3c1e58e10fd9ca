"""Incomplete multipart uploads: our own failed writes abort theirs, and `mlfactory storage cleanup` finds and
aborts the ones killed writers left under the project's prefixes, and nothing else.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mlfactory.cli.main import app, main
from mlfactory.errors import StorageError
from mlfactory.project import open_project
from mlfactory.stores.fs import abort_upload, incomplete_uploads, open_location, put_atomic

PART = os.urandom(5 << 20)  # S3's smallest part


def _client(bucket: Any) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=bucket.storage_options["endpoint_url"])


def _leave_upload(bucket: Any, key: str) -> str:
    """Start a multipart upload of ``key``, upload one part, and walk away (as a killed writer does)."""
    client = _client(bucket)
    upload = client.create_multipart_upload(Bucket=bucket.name, Key=key)["UploadId"]
    client.upload_part(Bucket=bucket.name, Key=key, UploadId=upload, PartNumber=1, Body=PART)
    return str(upload)


def _pending(bucket: Any) -> list[str]:
    return sorted(
        u["Key"] for u in _client(bucket).list_multipart_uploads(Bucket=bucket.name).get("Uploads", [])
    )


class _FailsAfter:
    """A source that hands over ``ok`` bytes, then fails like a broken pipe."""

    def __init__(self, ok: int) -> None:
        self.left = ok

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            raise OSError("the source went away")
        n = min(n, self.left)
        self.left -= n
        return b"x" * n


def test_a_write_failing_mid_upload_aborts_it(s3_bucket: Any, tmp_path: Path) -> None:
    location = open_location(f"{s3_bucket.url}/a", tmp_path, s3_bucket.storage_options)
    with pytest.raises(OSError, match="went away"):
        put_atomic(location, location.join("big"), _FailsAfter(20 << 20))  # two 8 MiB parts are up
    assert _pending(s3_bucket) == []
    assert not location.fs.exists(location.join("big"))


def test_a_completion_refused_by_the_storage_aborts_the_upload(
    s3_bucket: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    location = open_location(f"{s3_bucket.url}/a", tmp_path, s3_bucket.storage_options)
    call = location.fs.call_s3

    def refuses_completion(method: str, *args: Any, **kwargs: Any) -> Any:
        if method == "complete_multipart_upload":
            raise PermissionError("completion refused")
        return call(method, *args, **kwargs)

    monkeypatch.setattr(location.fs, "call_s3", refuses_completion)
    with pytest.raises(StorageError, match="access denied"):
        put_atomic(location, location.join("big"), _Whole(17 << 20))
    monkeypatch.undo()
    assert _pending(s3_bucket) == []
    assert not location.fs.exists(location.join("big"))


class _Whole:
    """A source of ``n`` bytes that ends normally."""

    def __init__(self, n: int) -> None:
        self.left = n

    def read(self, n: int = -1) -> bytes:
        n = min(n, self.left)
        self.left -= n
        return b"y" * n


def test_listing_is_limited_to_the_prefix_and_abort_removes_the_parts(s3_bucket: Any, tmp_path: Path) -> None:
    _leave_upload(s3_bucket, "team/artifacts/ab/cd")
    _leave_upload(s3_bucket, "team/artifacts-old/ab/cd")  # a neighbour whose name starts the same
    _leave_upload(s3_bucket, "elsewhere/x")
    location = open_location(f"{s3_bucket.url}/team/artifacts", tmp_path, s3_bucket.storage_options)
    (found,) = incomplete_uploads(location)
    assert found.url == f"{s3_bucket.url}/team/artifacts/ab/cd"
    assert found.started.tzinfo == UTC
    abort_upload(location, found)
    abort_upload(location, found)  # already gone: nothing to do, no error
    assert _pending(s3_bucket) == ["elsewhere/x", "team/artifacts-old/ab/cd"]
    assert incomplete_uploads(open_location("local", tmp_path)) == []


@pytest.fixture
def bucket_project(s3_bucket: Any, tmp_path: Path) -> Path:
    root = tmp_path / "p"
    root.mkdir()
    endpoint = s3_bucket.storage_options["endpoint_url"]
    (root / "mlfactory.yaml").write_text(
        f"""name: p
stores:
  artifacts: {s3_bucket.url}/mlf/artifacts
  datasets: {s3_bucket.url}/mlf/datasets
  storage_options: {{endpoint_url: '{endpoint}'}}
server:
  prediction_log: {{path: '{s3_bucket.url}/mlf/predictions'}}
""",
        encoding="utf-8",
    )
    return root


def test_cleanup_aborts_stale_uploads_under_the_project_prefixes_only(
    s3_bucket: Any, bucket_project: Path
) -> None:
    _leave_upload(s3_bucket, "mlf/artifacts/ab/cdef")
    _leave_upload(s3_bucket, "mlf/predictions/model=spam/day=2026-12-01/seg.parquet")
    _leave_upload(s3_bucket, "mlf/other/x")  # the bucket's other tenants are not ours to touch
    _leave_upload(s3_bucket, "lake/events/part-0.parquet")
    with open_project(bucket_project, env={}, actor="test") as project:
        # ages from the storage's own clock (a test server may stamp a fixed date)
        started = max(u.started for u in project.cleanup_uploads("0s", dry_run=True).stale)
        young = project.cleanup_uploads("1d", now=started + timedelta(hours=1))
        assert young.stale == [] and young.recent == 2
        later = started + timedelta(days=2)
        dry = project.cleanup_uploads("1d", dry_run=True, now=later)
        assert [(u.store, u.url.rsplit("/", 1)[-1]) for u in dry.stale] == [
            ("artifacts", "cdef"),
            ("prediction log", "seg.parquet"),
        ]
        assert not dry.aborted and len(_pending(s3_bucket)) == 4
        done = project.cleanup_uploads("1d", now=later)
        assert done.aborted and len(done.stale) == 2
        assert done.checked == [f"{s3_bucket.url}/mlf/{p}" for p in ("artifacts", "datasets", "predictions")]
    assert _pending(s3_bucket) == ["lake/events/part-0.parquet", "mlf/other/x"]


def test_cli_cleanup_reports_and_aborts(s3_bucket: Any, bucket_project: Path) -> None:
    _leave_upload(s3_bucket, "mlf/datasets/tmp/snap.parquet")
    runner = CliRunner()
    base = ["--project", str(bucket_project), "storage", "cleanup", "--older-than", "0s"]
    out = runner.invoke(app, [*base, "--dry-run"])
    assert out.exit_code == 0, out.output
    assert "would abort 1 upload(s)" in out.output and "snap.parquet" in out.output
    assert _pending(s3_bucket) == ["mlf/datasets/tmp/snap.parquet"]
    out = runner.invoke(app, [*base, "--json"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    assert result["aborted"] and [u["store"] for u in result["stale"]] == ["datasets"]
    assert _pending(s3_bucket) == []


def test_cli_cleanup_refuses_a_bad_age_with_the_config_exit_code(
    bucket_project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["mlfactory", "--project", str(bucket_project), "storage", "cleanup", "--older-than", "soon"]
    monkeypatch.setattr(sys, "argv", args)
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code == 2
    assert "--older-than: 'soon' is not a duration" in capsys.readouterr().err


def test_cli_cleanup_on_a_local_project_says_there_is_nothing(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "mlfactory.yaml").write_text("name: p\n", encoding="utf-8")
    out = CliRunner().invoke(app, ["--project", str(root), "storage", "cleanup"])
    assert out.exit_code == 0 and "keeps nothing on object storage" in out.output
