"""The filesystem layer itself: where a URL points, how it is shown, what a write leaves, how failures map."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from mlfactory.errors import NotFoundError, StorageError
from mlfactory.stores.fs import open_location, put_atomic, storage_error


def test_local_paths_resolve_against_the_project(tmp_path: Path) -> None:
    assert open_location("a/b", tmp_path).root == str(tmp_path / "a" / "b")
    assert open_location(f"file://{tmp_path}/c", Path("/elsewhere")).root == f"{tmp_path}/c"
    location = open_location("a", tmp_path)
    assert location.local and location.join("x", "y/") == f"{tmp_path}/a/x/y"


def test_a_local_write_is_whole_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    location = open_location("store", tmp_path)
    put_atomic(location, location.join("d", "one"), b"bytes")
    put_atomic(location, location.join("d", "two"), io.BytesIO(b"stream"))
    assert (tmp_path / "store" / "d" / "one").read_bytes() == b"bytes"
    assert (tmp_path / "store" / "d" / "two").read_bytes() == b"stream"
    assert sorted(p.name for p in (tmp_path / "store" / "d").iterdir()) == ["one", "two"]


def test_bucket_urls_are_shown_without_credentials_or_query(s3_bucket: Any, tmp_path: Path) -> None:
    location = open_location(f"{s3_bucket.url}/pre/fix/?versionId=1", tmp_path, s3_bucket.storage_options)
    assert not location.local
    assert location.root == f"{s3_bucket.name}/pre/fix"
    assert location.describe() == f"{s3_bucket.url}/pre/fix"
    assert location.describe(location.join("k")) == f"{s3_bucket.url}/pre/fix/k"
    put_atomic(location, location.join("k"), b"v")
    assert location.fs.cat_file(location.join("k")) == b"v"


def test_friendly_options_reach_the_s3_backend(tmp_path: Path) -> None:
    location = open_location(
        "s3://b/p", tmp_path, {"endpoint_url": "http://127.0.0.1:1", "region": "eu-west-1", "anonymous": True}
    )
    assert location.fs.anon is True
    assert location.fs.client_kwargs["region_name"] == "eu-west-1"
    assert location.fs.endpoint_url == "http://127.0.0.1:1"


def test_failures_map_to_the_error_tree_naming_the_url(tmp_path: Path) -> None:
    location = open_location("s3://bucket/prefix", tmp_path, {"endpoint_url": "http://127.0.0.1:1"})
    denied = storage_error(location, PermissionError("Access Denied"))
    assert isinstance(denied, StorageError)
    assert "access denied to s3://bucket/prefix" in str(denied) and "instance role" in str(denied)
    missing = storage_error(location, FileNotFoundError("gone"), location.join("x"))
    assert isinstance(missing, NotFoundError) and "s3://bucket/prefix/x does not exist" in str(missing)
    other = storage_error(location, RuntimeError("odd"))
    assert isinstance(other, StorageError) and "s3://bucket/prefix" in str(other)
    with pytest.raises(StorageError):
        raise other
