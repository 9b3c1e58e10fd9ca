"""Azure Blob through the loopback Azurite server: the same clear errors as a bucket (a missing container, a
refused key, an unreachable endpoint), each naming the URL and never the key, and two writers of one blob at
once leaving one whole object."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from mlfactory.errors import NotFoundError, StorageError, StoreUnavailableError
from mlfactory.stores import open_artifact_store
from mlfactory.stores.fs import open_location, put_atomic

_ENV = "AZURE_STORAGE_CONNECTION_STRING"
# a fresh filesystem instance: the connection string below is read from the environment when one is made
FRESH = {"skip_instance_cache": True}


def _with(connection: str, **parts: str) -> str:
    """The connection string with some of its ``Name=value`` parts replaced."""
    fields = dict(p.split("=", 1) for p in connection.strip(";").split(";"))
    return ";".join(f"{k}={v}" for k, v in {**fields, **parts}.items()) + ";"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once the socket is closed


def test_a_missing_container_is_named_on_write_read_and_list(azurite_server: str, tmp_path: Path) -> None:
    store = open_artifact_store("az://no-such-container/team/artifacts", tmp_path)
    expected = (
        "container 'no-such-container' of az://no-such-container/team/artifacts.* does not exist; create it"
    )
    with pytest.raises(NotFoundError, match=expected):
        store.put_bytes(b"model")
    with pytest.raises(NotFoundError, match=expected):
        store.get_bytes("0" * 64)
    with pytest.raises(NotFoundError, match=expected):
        list(store.digests())  # an empty listing of a missing container is not an empty store


def test_a_refused_key_is_access_denied_without_the_key(
    azure_container: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "d3Jvbmcta2V5LW4zdmVyLXNob3du" * 3
    monkeypatch.setenv(_ENV, _with(os.environ[_ENV], AccountKey=wrong))
    store = open_artifact_store(f"{azure_container.url}/artifacts", tmp_path, FRESH)
    for attempt in (lambda: store.put_bytes(b"model"), lambda: store.get_bytes("a" * 64)):
        with pytest.raises(StorageError, match="access denied") as err:
            attempt()
        message = str(err.value)
        assert f"{azure_container.url}/artifacts" in message and "credentials" in message
        assert wrong not in message


def test_an_unreachable_endpoint_says_so_without_the_key(
    azurite_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import adlfs.spec
    from azure.storage.blob.aio import BlobServiceClient

    def without_retries(connection_string: str) -> BlobServiceClient:
        return BlobServiceClient.from_connection_string(connection_string, retry_total=0)

    # the Azure SDK retries a refused connection for about a minute a call (adlfs offers no setting for it);
    # the failure that reaches mlfactory afterwards is the same, so the test asks for it at once
    monkeypatch.setattr(adlfs.spec, "_create_aio_blob_service_client_from_connection_string", without_retries)
    down = f"http://127.0.0.1:{_closed_port()}/devstoreaccount1"
    monkeypatch.setenv(_ENV, _with(azurite_server, BlobEndpoint=down))
    key = _with(azurite_server).split("AccountKey=", 1)[1].split(";", 1)[0]
    store = open_artifact_store("az://models/artifacts", tmp_path, FRESH)
    for attempt in (lambda: store.put_bytes(b"model"), lambda: store.get_bytes("a" * 64)):
        with pytest.raises(StoreUnavailableError) as err:
            attempt()
        message = str(err.value)
        assert "az://models/artifacts" in message and "cannot be reached" in message
        assert key not in message


class _Stalls:
    """A source that gives its first block, then waits to be told to go on before giving the rest."""

    def __init__(self, data: bytes) -> None:
        self.data, self.reads = data, 0
        self.staged, self.go = threading.Event(), threading.Event()

    def read(self, n: int = -1) -> bytes:
        if self.reads == 1:  # the first block went up before its writer came back for more
            self.staged.set()
            self.go.wait()
        self.reads += 1
        chunk, self.data = self.data[:n], self.data[n:]
        return chunk


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_two_writers_of_one_blob_at_once_leave_one_whole_object(azure_container: Any, tmp_path: Path) -> None:
    # committing a blob's blocks discards every uncommitted block of it: the writer that commits second finds
    # its blocks gone, and must neither fail for it nor leave anything but the other's whole object
    location = open_location(f"{azure_container.url}/artifacts", tmp_path)
    path = location.join("same")
    first, second = os.urandom(17 << 20), os.urandom(17 << 20)
    slow = _Stalls(first)
    failures: list[BaseException] = []

    def write_slowly() -> None:
        try:
            put_atomic(location, path, slow)  # type: ignore[arg-type]  # a file object that reads
        except BaseException as exc:
            failures.append(exc)

    writer = threading.Thread(target=write_slowly)
    writer.start()
    assert slow.staged.wait(60)
    put_atomic(location, path, io.BytesIO(second))  # the other writer starts later and commits first
    slow.go.set()
    writer.join(60)
    assert not writer.is_alive() and failures == []
    assert _digest(location.fs.cat_file(path)) == _digest(second)
