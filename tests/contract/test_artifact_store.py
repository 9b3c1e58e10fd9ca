"""The artifact-store contract, on a local folder, a bucket of the loopback S3 server and a container of the
loopback Azure Blob server (Azurite).

Content addressing, verification on every read (a modified or swapped object is refused by digest and URL),
whole-object writes (an interrupted upload leaves nothing visible), two processes writing the same content,
and what `mlfactory verify` lists (digests, leftovers).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlfactory.errors import IntegrityError, NotFoundError
from mlfactory.stores import ArtifactStore, open_artifact_store
from mlfactory.stores.artifacts import LocalArtifactStore, ObjectArtifactStore
from mlfactory.stores.fs import open_location, put_atomic

# over two 8 MiB parts: a bucket gets a real multipart upload
BIG = os.urandom(17 << 20)


@pytest.fixture(params=["local", "s3", "azure"])
def bucket(request: pytest.FixtureRequest) -> Any:
    """The bucket or container the store lives in, or None for a local folder."""
    if request.param == "local":
        return None
    return request.getfixturevalue({"s3": "s3_bucket", "azure": "azure_container"}[request.param])


@pytest.fixture
def store(bucket: Any, tmp_path: Path) -> ArtifactStore:
    if bucket is None:
        return open_artifact_store("artifacts", tmp_path)
    return open_artifact_store(f"{bucket.url}/team/artifacts", tmp_path, bucket.storage_options)


def _where(store: ArtifactStore, bucket: Any) -> tuple[str, str]:
    """The store's URL and its storage options (JSON) as another process opens it."""
    if bucket is None:
        return "artifacts", "null"
    assert isinstance(store, ObjectArtifactStore)
    return store.location.url, json.dumps(bucket.storage_options)


def _overwrite(store: ArtifactStore, digest: str, data: bytes) -> str:
    """Replace an artifact's stored bytes behind the store's back; returns where they are."""
    if isinstance(store, LocalArtifactStore):
        path = store.root / digest[:2] / digest[2:]
        path.write_bytes(data)
        return str(path)
    assert isinstance(store, ObjectArtifactStore)
    key = store.location.join(digest[:2], digest[2:])
    store.location.fs.pipe_file(key, data)
    return store.location.describe(key)


def test_round_trip_is_content_addressed(store: ArtifactStore, tmp_path: Path) -> None:
    digest = store.put_bytes(b"hello")
    assert digest == hashlib.sha256(b"hello").hexdigest()
    assert store.put_bytes(b"hello") == digest  # the same bytes twice: one artifact
    src = tmp_path / "f.bin"
    src.write_bytes(b"hello")
    assert store.put_file(src) == digest
    assert store.get_bytes(digest) == b"hello"
    assert store.local_path(digest).read_bytes() == b"hello"
    assert store.exists(digest) and not store.exists("0" * 64)
    assert list(store.digests()) == [digest]
    assert store.leftovers() == []


def test_large_file_goes_up_whole(store: ArtifactStore, tmp_path: Path) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(BIG)
    digest = store.put_file(src)
    assert digest == hashlib.sha256(BIG).hexdigest()
    assert store.get_bytes(digest) == BIG
    assert store.leftovers() == []


@pytest.mark.parametrize("how", ["modified", "swapped", "truncated"])
def test_a_changed_object_is_refused_by_digest_and_url(store: ArtifactStore, how: str) -> None:
    digest = store.put_bytes(b"model bytes")
    other = store.put_bytes(b"other model")
    replacement = {
        "modified": b"model byteZ",
        "swapped": store.get_bytes(other),
        "truncated": b"model",
    }[how]
    store.local_path(digest)  # a verified copy may be cached: verify() must still look at the stored bytes
    where = _overwrite(store, digest, replacement)
    with pytest.raises(IntegrityError, match=digest[:12]):
        store.verify(digest)
    with pytest.raises(IntegrityError, match=f"artifact {digest[:12]} at .* was modified") as err:
        store.get_bytes(digest)
    assert where in str(err.value)
    if isinstance(store, ObjectArtifactStore):
        # the copy cached before the damage was verified then and is re-hashed now: still the original
        assert store.local_path(digest).read_bytes() == b"model bytes"
        shutil.rmtree(store.cache)  # another machine, with no cached copy, downloads the damaged object
    with pytest.raises(IntegrityError, match=digest[:12]):
        store.local_path(digest)
    assert store.get_bytes(other) == b"other model"  # the neighbour is untouched
    store.verify(other)


def test_a_cached_copy_is_verified_on_every_read(store: ArtifactStore) -> None:
    digest = store.put_bytes(b"weights")
    path = store.local_path(digest)
    path.write_bytes(b"tampered")  # the local copy (the store itself for a folder, the cache for a bucket)
    if isinstance(store, LocalArtifactStore):
        with pytest.raises(IntegrityError):
            store.local_path(digest)
    else:  # a bad cached copy is replaced by a verified download, never returned
        assert store.local_path(digest).read_bytes() == b"weights"


def test_missing_and_malformed_digests(store: ArtifactStore) -> None:
    with pytest.raises(NotFoundError, match="missing"):
        store.get_bytes("0" * 64)
    with pytest.raises(NotFoundError, match="missing"):
        store.local_path("0" * 64)
    with pytest.raises(NotFoundError, match="missing"):
        store.verify("0" * 64)
    with pytest.raises(NotFoundError, match="not an artifact digest"):
        store.get_bytes("../../etc/passwd")


class _Interrupted(Exception):
    pass


class _FailingReader:
    """A source that breaks after some megabytes: the writer dies mid-upload."""

    def __init__(self, good: int) -> None:
        self.left = good

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            raise _Interrupted("the source broke")
        n = min(n if n > 0 else self.left, self.left)
        self.left -= n
        return b"x" * n


def test_an_interrupted_write_leaves_nothing_visible(store: ArtifactStore) -> None:
    if isinstance(store, ObjectArtifactStore):
        location = store.location
    else:
        assert isinstance(store, LocalArtifactStore)
        location = open_location(str(store.root), Path("/"))
    path = location.join("ab", "c" * 62)
    with pytest.raises(_Interrupted):
        put_atomic(location, path, _FailingReader(20 << 20))  # type: ignore[arg-type]  # two full parts went up, then the break
    assert not location.fs.exists(path)
    assert list(store.digests()) == []
    assert store.leftovers() == []


_WRITER = """
import json
import sys
from pathlib import Path
from mlfactory.stores import open_artifact_store
url, base, options, src = sys.argv[1:]
store = open_artifact_store(url, Path(base), json.loads(options))
for _ in range(3):
    print(store.put_file(Path(src)), store.put_bytes(b"small"), flush=True)
"""


def test_two_processes_writing_the_same_content(store: ArtifactStore, bucket: Any, tmp_path: Path) -> None:
    src = tmp_path / "same.bin"
    src.write_bytes(BIG)
    url, options = _where(store, bucket)
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, url, str(tmp_path), options, str(src)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [w.communicate(timeout=120) for w in writers]
    assert [w.returncode for w in writers] == [0, 0], [err for _, err in outputs]
    big, small = hashlib.sha256(BIG).hexdigest(), hashlib.sha256(b"small").hexdigest()
    for out, _ in outputs:
        assert out.split() == [big, small] * 3
    assert store.get_bytes(big) == BIG
    assert store.get_bytes(small) == b"small"
    assert sorted(store.digests()) == sorted([big, small])
    assert store.leftovers() == []


def test_leftovers_are_listed_not_read(store: ArtifactStore) -> None:
    digest = store.put_bytes(b"kept")
    if isinstance(store, LocalArtifactStore):
        (store.root / ".tmp-abandoned").write_bytes(b"half")
        expected = str(store.root / ".tmp-abandoned")
    else:
        assert isinstance(store, ObjectArtifactStore)
        key = store.location.join(".tmp-abandoned")
        store.location.fs.pipe_file(key, b"half")
        expected = store.location.describe(key)
    assert store.leftovers() == [expected]
    assert list(store.digests()) == [digest]


_KILLED_WRITER = """
import json
import sys
from pathlib import Path
from mlfactory.stores.fs import open_location, put_atomic
url, base, options, key = sys.argv[1:]
location = open_location(url, Path(base), json.loads(options))

class Stalls:
    left = 20 << 20
    def read(self, n=-1):
        if self.left <= 0:  # two full parts are up: say so, then hang until killed
            print("stalled", flush=True)
            sys.stdin.read()
        n = min(n, self.left)
        self.left -= n
        return b"x" * n

put_atomic(location, location.join(key), Stalls())
"""


def test_a_writer_killed_mid_upload_leaves_nothing_visible(
    store: ArtifactStore, bucket: Any, tmp_path: Path
) -> None:
    kept = store.put_bytes(b"kept")
    digest = hashlib.sha256(b"never finished").hexdigest()
    key = f"{digest[:2]}/{digest[2:]}"
    url, options = _where(store, bucket)
    writer = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, url, str(tmp_path), options, key],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None and writer.stdout.readline().strip() == "stalled"
    writer.kill()  # SIGKILL: no cleanup, no abort of the multipart upload
    writer.wait(timeout=30)
    assert not store.exists(digest)
    with pytest.raises(NotFoundError, match="missing"):
        store.get_bytes(digest)
    assert list(store.digests()) == [kept]
    if bucket is not None:  # the killed writer had a real upload under way, never completed
        assert _parts_under_way(bucket, f"team/artifacts/{key}") > 0


def _parts_under_way(bucket: Any, key: str) -> int:
    """How many parts (S3) or blocks (Azure Blob) of an upload to ``key`` are stored and not committed."""
    if bucket.url.startswith("az://"):
        from azure.storage.blob import BlobClient

        client = BlobClient.from_connection_string(
            os.environ["AZURE_STORAGE_CONNECTION_STRING"], bucket.name, key
        )
        return len(client.get_block_list("uncommitted")[1])
    import boto3

    s3 = boto3.client("s3", endpoint_url=bucket.storage_options["endpoint_url"])
    uploads = s3.list_multipart_uploads(Bucket=bucket.name).get("Uploads", [])
    assert [u["Key"] for u in uploads] == [key]
    return len(s3.list_parts(Bucket=bucket.name, Key=key, UploadId=uploads[0]["UploadId"])["Parts"])
