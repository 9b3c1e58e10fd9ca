"""The local cache of a bucket artifact store stays under its size limit, least recently used copies first.

Every read returns bytes verified against their digest, whether the copy was cached, evicted and fetched
again, removed behind the store's back (as another process sharing the cache does), or shared by two
processes loading at the same time.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from mlfactory.config import load_project_config
from mlfactory.errors import ConfigError
from mlfactory.project import open_project
from mlfactory.stores import open_artifact_store
from mlfactory.stores.artifacts import ObjectArtifactStore

SIZE = 10_000  # each artifact's bytes
LIMIT = 25_000  # room for two


def _store(bucket: Any, base: Path, limit: int | None = LIMIT) -> ObjectArtifactStore:
    store = open_artifact_store(f"{bucket.url}/a", base, bucket.storage_options, cache_max_size=limit)
    assert isinstance(store, ObjectArtifactStore)
    return store


def _cached(store: ObjectArtifactStore) -> dict[str, int]:
    """The cached copies by digest, with their sizes (temporary files left out)."""
    return {
        p.parent.name + p.name: p.stat().st_size
        for p in store.cache.glob("??/*")
        if not p.name.startswith(".tmp-")
    }


def _read(store: ObjectArtifactStore, digest: str) -> bytes:
    data = store.local_path(digest).read_bytes()
    assert hashlib.sha256(data).hexdigest() == digest
    return data


def test_loading_more_than_fits_evicts_the_least_recently_used(s3_bucket: Any, tmp_path: Path) -> None:
    store = _store(s3_bucket, tmp_path)
    blobs = [os.urandom(SIZE) for _ in range(4)]
    a, b, c, d = (store.put_bytes(x) for x in blobs)
    assert _read(store, a) == blobs[0] and _read(store, b) == blobs[1]
    assert set(_cached(store)) == {a, b}
    _read(store, a)  # a is used again: b is now the least recently used
    assert _read(store, c) == blobs[2]
    assert set(_cached(store)) == {a, c}
    assert _read(store, b) == blobs[1]  # evicted, so fetched again; a is the oldest now
    assert set(_cached(store)) == {c, b}
    assert _read(store, d) == blobs[3]
    assert set(_cached(store)) == {b, d}
    assert sum(_cached(store).values()) <= LIMIT


def test_an_artifact_larger_than_the_limit_is_kept_while_it_is_the_one_returned(
    s3_bucket: Any, tmp_path: Path
) -> None:
    store = _store(s3_bucket, tmp_path)
    small = store.put_bytes(os.urandom(SIZE))
    big_bytes = os.urandom(3 * LIMIT)
    big = store.put_bytes(big_bytes)
    _read(store, small)
    path = store.local_path(big)
    assert path.read_bytes() == big_bytes
    assert set(_cached(store)) == {big}  # everything else made room; the copy just returned stays
    assert _read(store, small)  # and the next load evicts it in turn
    assert set(_cached(store)) == {small}


def test_a_copy_removed_or_damaged_behind_the_store_is_fetched_again(s3_bucket: Any, tmp_path: Path) -> None:
    store = _store(s3_bucket, tmp_path)
    data = os.urandom(SIZE)
    digest = store.put_bytes(data)
    path = store.local_path(digest)
    path.unlink()  # another process sharing the cache evicted it
    assert _read(store, digest) == data
    path.write_bytes(b"x" * SIZE)  # a damaged copy is never returned
    assert _read(store, digest) == data


def test_no_limit_keeps_every_copy_and_abandoned_downloads_are_removed(
    s3_bucket: Any, tmp_path: Path
) -> None:
    store = _store(s3_bucket, tmp_path, limit=None)
    digests = [store.put_bytes(os.urandom(SIZE)) for _ in range(5)]
    first = store.local_path(digests[0])
    abandoned = first.parent / ".tmp-killed"
    abandoned.write_bytes(b"half")
    old = time.time() - 2 * 86400
    os.utime(abandoned, (old, old))
    running = first.parent / ".tmp-running"  # another process's download under way
    running.write_bytes(b"part")
    for digest in digests[1:]:
        _read(store, digest)
    assert set(_cached(store)) == set(digests)
    assert not abandoned.exists() and running.exists()


_LOADER = """
import hashlib, sys
from pathlib import Path
from mlfactory.stores import open_artifact_store
url, base, endpoint, limit, *digests = sys.argv[1:]
store = open_artifact_store(url, Path(base), {"endpoint_url": endpoint}, cache_max_size=int(limit))
refetched = 0
for round in range(6):
    for digest in digests[round % 2 :] + digests[: round % 2]:
        while True:
            try:
                data = store.local_path(digest).read_bytes()
                break
            except FileNotFoundError:  # the other process evicted it between return and open
                refetched += 1
        assert hashlib.sha256(data).hexdigest() == digest, digest
print("ok", refetched)
"""


@pytest.mark.slow
def test_two_processes_sharing_the_cache_read_verified_bytes_and_keep_it_bounded(
    s3_bucket: Any, tmp_path: Path
) -> None:
    store = _store(s3_bucket, tmp_path)
    digests = [store.put_bytes(os.urandom(SIZE)) for _ in range(6)]
    args = [store.location.url, str(tmp_path), s3_bucket.storage_options["endpoint_url"], str(LIMIT)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _LOADER, *args, *(digests if i == 0 else digests[::-1])],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert out.startswith("ok")
    # each process keeps the cache within the limit after its own copy; two copies written at once may
    # each be kept by their writer, so the bound is the limit plus one artifact
    assert sum(_cached(store).values()) <= LIMIT + SIZE
    assert not list(store.cache.glob("??/.tmp-*"))


def _project_file(root: Path, cache: str) -> None:
    root.mkdir()
    (root / "mlfactory.yaml").write_text(
        f"name: p\nstores:\n  artifacts: s3://b/artifacts\n  artifact_cache:\n{cache}", encoding="utf-8"
    )


@pytest.mark.parametrize(
    ("setting", "limit"),
    [
        ("    max_size: 500MB\n", 500_000_000),
        ("    max_size: 10GiB\n", 10 << 30),
        ("    max_size: null\n", None),
    ],
)
def test_the_setting_takes_sizes_with_units(tmp_path: Path, setting: str, limit: int | None) -> None:
    _project_file(tmp_path / "p", setting)
    assert load_project_config(tmp_path / "p", env={}).config.stores.artifact_cache.limit() == limit


@pytest.mark.parametrize("bad", ["lots", "10 parsecs", "0MB"])
def test_a_bad_size_names_the_setting_and_the_fix(tmp_path: Path, bad: str) -> None:
    _project_file(tmp_path / "p", f"    max_size: {bad}\n")
    with pytest.raises(ConfigError, match=r"stores\.artifact_cache\.max_size: .*(512MB|10GiB)"):
        load_project_config(tmp_path / "p", env={})


def test_the_project_opens_its_store_with_the_configured_limit(s3_bucket: Any, tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "mlfactory.yaml").write_text(
        f"name: p\nstores:\n  artifacts: {s3_bucket.url}/artifacts\n"
        f"  storage_options: {{endpoint_url: '{s3_bucket.storage_options['endpoint_url']}'}}\n",
        encoding="utf-8",
    )
    env = {"MLFACTORY_STORES__ARTIFACT_CACHE__MAX_SIZE": "2KiB"}
    with open_project(root, env=env, actor="test") as project:
        store = project.artifacts
        assert isinstance(store, ObjectArtifactStore)
        kept = [store.put_bytes(os.urandom(1000)) for _ in range(3)]
        for digest in kept:
            _read(store, digest)
        assert set(_cached(store)) == set(kept[1:])
