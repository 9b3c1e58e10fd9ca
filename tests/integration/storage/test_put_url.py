"""Writing one whole file or object by path or URL (report pages): a bucket and a folder alike, with the fs
layer's clear errors for a missing bucket, a target that is a folder, and an unknown scheme."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlfactory.errors import ConfigError, NotFoundError
from mlfactory.stores.fs import open_location, put_url


def test_an_object_url_is_written_whole_and_replaced_whole(s3_bucket: Any, tmp_path: Path) -> None:
    url = f"{s3_bucket.url}/reports/spam/drift.html"
    assert put_url(url, b"<html>one</html>", tmp_path, s3_bucket.storage_options) == url
    assert put_url(url, b"<html>two</html>", tmp_path, s3_bucket.storage_options) == url
    location = open_location(s3_bucket.url, tmp_path, s3_bucket.storage_options)
    assert location.fs.cat_file(location.join("reports/spam/drift.html")) == b"<html>two</html>"
    assert location.fs.find(location.root) == [location.join("reports/spam/drift.html")]  # no temporary keys


def test_a_relative_path_resolves_against_the_base_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    written = put_url("out/r.html", b"page", tmp_path)
    assert written == str(tmp_path / "out" / "r.html")
    assert (tmp_path / "out" / "r.html").read_bytes() == b"page"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["r.html"]


def test_a_missing_bucket_is_named(s3_server: str, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="bucket 'no-such-bucket' .* does not exist; create it"):
        put_url("s3://no-such-bucket/r.html", b"page", tmp_path, {"endpoint_url": s3_server})


@pytest.mark.parametrize("target", ["s3://bucket", "s3://bucket/reports/"])
def test_a_bucket_or_prefix_is_not_an_object(tmp_path: Path, target: str) -> None:
    with pytest.raises(ConfigError, match="names a bucket or a folder, not an object; add a file name"):
        put_url(target, b"page", tmp_path)


def test_a_folder_is_not_a_file(tmp_path: Path) -> None:
    (tmp_path / "reports").mkdir()
    with pytest.raises(ConfigError, match="is a folder, not a file"):
        put_url("reports", b"page", tmp_path)


def test_an_unknown_scheme_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unsupported scheme 'ftp://'.*s3://"):
        put_url("ftp://host/r.html", b"page", tmp_path)
