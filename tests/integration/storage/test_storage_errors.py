"""Clear errors from object storage: a missing bucket, an unreachable endpoint, an unknown scheme or a
missing backend package; each names the URL and the fix, and never a credential."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from mlfactory.errors import ConfigError, NotFoundError, StoreUnavailableError
from mlfactory.stores import open_artifact_store
from mlfactory.stores.fs import open_location

SECRET = "s3cr3t-n3ver-shown"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once the socket is closed


def test_a_missing_bucket_is_named_on_write_read_and_list(s3_server: str, tmp_path: Path) -> None:
    store = open_artifact_store("s3://no-such-bucket/team/artifacts", tmp_path, {"endpoint_url": s3_server})
    expected = "bucket 'no-such-bucket' of s3://no-such-bucket/team/artifacts.* does not exist; create it"
    with pytest.raises(NotFoundError, match=expected):
        store.put_bytes(b"model")
    with pytest.raises(NotFoundError, match=expected):
        store.get_bytes("0" * 64)
    with pytest.raises(NotFoundError, match=expected):
        list(store.digests())  # an empty listing of a missing bucket is not an empty store


def test_an_unreachable_endpoint_says_so_without_the_secret(
    s3_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    store = open_artifact_store("s3://bucket/artifacts", tmp_path, {"endpoint_url": endpoint})
    for attempt in (lambda: store.put_bytes(b"model"), lambda: store.get_bytes("a" * 64)):
        with pytest.raises(StoreUnavailableError) as err:
            attempt()
        message = str(err.value)
        assert "s3://bucket/artifacts" in message and "cannot be reached" in message
        assert "endpoint_url" in message
        assert SECRET not in message


def test_urls_in_messages_carry_no_credentials(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        open_location(f"ftp://user:{SECRET}@host/x?token={SECRET}", tmp_path)
    assert SECRET not in str(err.value) and "unsupported scheme 'ftp://'" in str(err.value)


def test_a_missing_backend_package_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fsspec

    def no_backend(protocol: str, **_: Any) -> None:
        raise ImportError(f"Install gcsfs to access {protocol}")

    monkeypatch.setattr(fsspec, "filesystem", no_backend)
    with pytest.raises(
        ConfigError, match=r'needs the gcsfs package; install it with pip install "mlfactory\[gcs\]"'
    ):
        open_location("gs://bucket/x", tmp_path)
