"""File sources and dataset snapshots on object storage (the loopback S3 server), against the same files on
disk.

The same bytes must give the same frame and the same content hash wherever they are; partitioned folders add
their ``key=value`` folders as columns; errors name the URL.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pytest

from mlfactory.config import LoadedConfig, ProjectConfig, SourceConfig, StoresConfig
from mlfactory.data.ingest import content_hash, ingest, load_dataset
from mlfactory.data.sources import read_source
from mlfactory.errors import NotFoundError, ValidationError
from mlfactory.stores import open_artifact_store
from mlfactory.stores.metadata import MetadataStore, open_metadata_store

FRAME = pd.DataFrame({"id": [1, 2, 3], "price": [9.5, 3.0, 4.25], "color": ["red", "blue", "red"]})


def project(root: Path, bucket: Any, source: SourceConfig, **stores: str) -> LoadedConfig:
    config = ProjectConfig(
        name="t",
        sources={"src": source},
        stores=StoresConfig(storage_options=bucket.storage_options, **stores),
    )
    return LoadedConfig(config=config, root=root.resolve(), file_hash="x", origins={})


def put(bucket: Any, key: str, data: bytes) -> None:
    import s3fs

    s3fs.S3FileSystem(endpoint_url=bucket.storage_options["endpoint_url"]).pipe_file(
        f"{bucket.name}/{key}", data
    )


def parquet_bytes(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


@pytest.fixture
def metadata(tmp_path: Path) -> Iterator[MetadataStore]:
    store = open_metadata_store("sqlite:///" + str(tmp_path / "m.db"))
    yield store
    store.close()


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_a_file_on_a_bucket_reads_and_hashes_like_the_same_file_on_disk(
    s3_bucket: Any, tmp_path: Path, kind: Literal["parquet", "csv"]
) -> None:
    data = parquet_bytes(FRAME) if kind == "parquet" else FRAME.to_csv(index=False).encode()
    (tmp_path / f"x.{kind}").write_bytes(data)
    put(s3_bucket, f"lake/x.{kind}", data)
    local = read_source("src", SourceConfig(kind=kind, path=f"x.{kind}"), project(tmp_path, s3_bucket, _s()))
    remote_source = SourceConfig(kind=kind, path=f"{s3_bucket.url}/lake/x.{kind}")
    remote = read_source("src", remote_source, project(tmp_path, s3_bucket, remote_source))
    pd.testing.assert_frame_equal(local, remote)
    assert content_hash(local) == content_hash(remote)
    assert remote["price"].tolist() == [9.5, 3.0, 4.25]


def _s() -> SourceConfig:
    return SourceConfig(kind="csv", path="unused.csv")


def test_a_partitioned_folder_on_a_bucket_matches_the_same_folder_on_disk(
    s3_bucket: Any, tmp_path: Path
) -> None:
    parts = {
        "day=2024-01-01/part-0.parquet": FRAME.iloc[:2],
        "day=2024-01-02/part-0.parquet": FRAME.iloc[2:],
        "day=2024-01-02/_SUCCESS": None,  # marker files are not data
    }
    for key, frame in parts.items():
        data = b"" if frame is None else parquet_bytes(frame)
        put(s3_bucket, f"lake/events/{key}", data)
        (tmp_path / "events" / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "events" / key).write_bytes(data)
    remote_source = SourceConfig(kind="parquet", path=f"{s3_bucket.url}/lake/events/")
    remote = read_source("src", remote_source, project(tmp_path, s3_bucket, remote_source))
    local_source = SourceConfig(kind="parquet", path="events")
    local = read_source("src", local_source, project(tmp_path, s3_bucket, local_source))
    assert remote["id"].tolist() == [1, 2, 3]
    # the partition value is text, then parsed like any ISO-date column
    assert remote["day"].dt.strftime("%Y-%m-%d").tolist() == ["2024-01-01", "2024-01-01", "2024-01-02"]
    assert content_hash(remote) == content_hash(local)


def test_a_folder_source_on_a_bucket(s3_bucket: Any, tmp_path: Path) -> None:
    put(s3_bucket, "f/a.csv", FRAME.iloc[:1].to_csv(index=False).encode())
    put(s3_bucket, "f/b.parquet", parquet_bytes(FRAME.iloc[1:]))
    put(s3_bucket, "f/notes.txt", b"not data")
    source = SourceConfig(kind="folder", path=f"{s3_bucket.url}/f")
    df = read_source("src", source, project(tmp_path, s3_bucket, source))
    assert df["id"].tolist() == [1, 2, 3]


def test_a_partitioned_folder_with_no_files_of_the_kind(s3_bucket: Any, tmp_path: Path) -> None:
    put(s3_bucket, "lake/other/x.csv", b"a\n1\n")
    source = SourceConfig(kind="parquet", path=f"{s3_bucket.url}/lake/other")
    with pytest.raises(ValidationError, match=f"{s3_bucket.url}/lake/other holds no .parquet, .pq files"):
        read_source("src", source, project(tmp_path, s3_bucket, source))


def test_missing_object_and_missing_bucket_are_named(s3_bucket: Any, tmp_path: Path) -> None:
    source = SourceConfig(kind="parquet", path=f"{s3_bucket.url}/nope.parquet")
    with pytest.raises(NotFoundError, match=f"'{s3_bucket.url}/nope.parquet' does not exist"):
        read_source("src", source, project(tmp_path, s3_bucket, source))
    source = SourceConfig(kind="parquet", path="s3://no-such-bucket-here/x.parquet")
    with pytest.raises(
        NotFoundError, match="bucket 'no-such-bucket-here' of s3://no-such-bucket-here/x.parquet"
    ):
        read_source("src", source, project(tmp_path, s3_bucket, source))


def test_a_snapshot_of_a_bucket_source_lands_in_a_bucket_store_and_loads_verified(
    s3_bucket: Any, tmp_path: Path, metadata: MetadataStore
) -> None:
    put(s3_bucket, "lake/x.parquet", parquet_bytes(FRAME))
    source = SourceConfig(kind="parquet", path=f"{s3_bucket.url}/lake/x.parquet")
    loaded = project(
        tmp_path,
        s3_bucket,
        source,
        artifacts=f"{s3_bucket.url}/artifacts",
        datasets=f"{s3_bucket.url}/datasets",
    )
    store = open_artifact_store(loaded.config.stores.artifacts, loaded.root, s3_bucket.storage_options)
    result = ingest(loaded, metadata, store, "src")
    assert result.created and result.dataset.valid
    assert list(store.digests()) == [result.dataset.artifact]
    pd.testing.assert_frame_equal(load_dataset(store, result.dataset), FRAME)
    assert ingest(loaded, metadata, store, "src").created is False  # same content, same version
    # no scratch folder named after the URL, and no temporary file, in the project
    assert not [p for p in tmp_path.rglob("*") if "s3:" in str(p) or p.name.startswith(".tmp-")]
