"""Ingestion: content hashing, versions, schema choice, snapshots and what is (not) written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlfactory.config import ColumnSpec, LoadedConfig, ProjectConfig, SourceConfig
from mlfactory.data.ingest import content_hash, ingest, load_dataset
from mlfactory.errors import IntegrityError, NotFoundError
from mlfactory.stores.artifacts import LocalArtifactStore
from mlfactory.stores.metadata import MetadataStore, open_metadata_store


@pytest.fixture
def metadata(tmp_path: Path) -> Iterator[MetadataStore]:
    store = open_metadata_store("sqlite:///" + str(tmp_path / "m.db"))
    yield store
    store.close()


@pytest.fixture
def artifacts(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "a")


def project(root: Path, **sources: SourceConfig) -> LoadedConfig:
    return LoadedConfig(
        config=ProjectConfig(name="t", sources=sources), root=root.resolve(), file_hash="x", origins={}
    )


def csv_project(root: Path, text: str, **columns: ColumnSpec) -> LoadedConfig:
    (root / "data.csv").write_text(text)
    return project(root, sales=SourceConfig(kind="csv", path="data.csv", columns=columns or None))


GOOD = "id,price,color,when\n1,9.5,red,2024-01-01\n2,3.0,blue,2024-01-02\n3,4.25,red,2024-01-03\n"


# -- content hash ------------------------------------------------------------------------------------------


def test_content_hash_is_stable_and_sensitive_to_every_cell_name_and_dtype() -> None:
    df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    base = content_hash(df)
    assert base == content_hash(df.copy()) == content_hash(df.set_axis([7, 8, 9]))
    assert len(base) == 64
    changed = df.copy()
    changed.loc[2, "b"] = "w"
    assert content_hash(changed) != base
    assert content_hash(df.rename(columns={"a": "c"})) != base
    assert content_hash(df.astype({"a": "float64"})) != base


# -- ingest ------------------------------------------------------------------------------------------------


def test_ingest_records_a_valid_snapshot_that_loads_back(tmp_path, metadata, artifacts) -> None:
    loaded = csv_project(tmp_path, GOOD)
    result = ingest(loaded, metadata, artifacts, "sales")
    ds = result.dataset
    assert result.created and ds.valid and ds.version == 1 and ds.n_rows == 3
    assert ds.validation["schema_origin"] == "inferred" and ds.validation["reasons"] == []
    color = {"type": "category", "categories": ["blue", "red"], "nullable": False}
    assert ds.schema["columns"]["color"] == color
    assert ds.schema["columns"]["when"]["type"] == "datetime"
    assert ds.profile["columns"]["price"]["mean"] == pytest.approx(np.mean([9.5, 3.0, 4.25]))
    assert ds.profile["columns"]["color"]["frequencies"]["red"] == 2
    back = load_dataset(artifacts, ds)
    assert back["id"].tolist() == [1, 2, 3] and back["color"].tolist() == ["red", "blue", "red"]
    assert back["when"].tolist() == list(pd.date_range("2024-01-01", periods=3, tz="UTC"))
    assert content_hash(back) == ds.content_hash
    assert metadata.get_dataset(ds.id) == ds
    # the temporary Parquet file is gone; the datasets folder was created
    assert list((tmp_path / ".mlfactory" / "datasets").iterdir()) == []


def test_identical_data_twice_is_the_same_version_and_writes_nothing(tmp_path, metadata, artifacts) -> None:
    loaded = csv_project(tmp_path, GOOD)
    first = ingest(loaded, metadata, artifacts, "sales")
    stored = sorted(p for p in (tmp_path / "a").rglob("*") if p.is_file())
    second = ingest(loaded, metadata, artifacts, "sales")
    assert second.created is False and second.dataset == first.dataset
    assert sorted(p for p in (tmp_path / "a").rglob("*") if p.is_file()) == stored
    assert len(metadata.list_datasets("sales")) == 1


def test_one_changed_cell_is_a_new_version_checked_against_the_first(tmp_path, metadata, artifacts) -> None:
    loaded = csv_project(tmp_path, GOOD)
    first = ingest(loaded, metadata, artifacts, "sales").dataset
    (tmp_path / "data.csv").write_text(GOOD.replace("3,4.25,red", "3,4.25,green"))
    second = ingest(loaded, metadata, artifacts, "sales")
    assert second.created and second.dataset.version == 2
    assert second.dataset.content_hash != first.content_hash
    assert second.dataset.validation["schema_origin"] == "previous"
    assert second.dataset.valid  # an unseen category under an inferred schema is a warning
    assert any("'green'" in w for w in second.dataset.validation["warnings"])
    assert [d.version for d in metadata.list_datasets("sales")] == [1, 2]


def test_declared_schema_is_strict_and_invalid_data_is_recorded(tmp_path, metadata, artifacts) -> None:
    loaded = csv_project(
        tmp_path,
        GOOD,
        id=ColumnSpec(type="integer"),
        price=ColumnSpec(type="number", max=5),
        color=ColumnSpec(type="category", categories=["red"]),
        when=ColumnSpec(type="datetime"),
    )
    result = ingest(loaded, metadata, artifacts, "sales")
    ds = result.dataset
    assert result.created and not ds.valid
    assert ds.validation["schema_origin"] == "declared"
    assert len(ds.reasons) == 2
    assert any("'price'" in r and "above the maximum" in r for r in ds.reasons)
    assert any("'color'" in r and "'blue'" in r for r in ds.reasons)
    assert load_dataset(artifacts, ds)["color"].tolist() == ["red", "blue", "red"]


def test_invalid_first_version_is_not_used_as_the_schema(tmp_path, metadata, artifacts) -> None:
    (tmp_path / "data.csv").write_text("x,y\n1,\n2,\n3,\n")
    loaded = project(tmp_path, s=SourceConfig(kind="csv", path="data.csv", max_null_rate=0.2))
    assert not ingest(loaded, metadata, artifacts, "s").dataset.valid
    (tmp_path / "data.csv").write_text("x,z\n1,a\n2,b\n")
    second = ingest(loaded, metadata, artifacts, "s").dataset
    assert second.valid and second.validation["schema_origin"] == "inferred"


def test_new_column_under_a_previous_schema_is_a_warning_and_gets_a_schema_entry(
    tmp_path, metadata, artifacts
) -> None:
    loaded = csv_project(tmp_path, "x\n1\n2\n")
    ingest(loaded, metadata, artifacts, "sales")
    (tmp_path / "data.csv").write_text("x,extra\n1,0.5\n2,1.5\n")
    ds = ingest(loaded, metadata, artifacts, "sales").dataset
    assert ds.valid and any("extra" in w for w in ds.validation["warnings"])
    assert ds.schema["columns"]["extra"]["type"] == "number"
    assert ds.profile["columns"]["extra"]["mean"] == 1.0


def test_unknown_source_lists_the_declared_ones(tmp_path, metadata, artifacts) -> None:
    loaded = csv_project(tmp_path, GOOD)
    with pytest.raises(NotFoundError, match=r"'nope'.*sales"):
        ingest(loaded, metadata, artifacts, "nope")


def test_ingest_from_a_folder_and_sql(tmp_path, metadata, artifacts) -> None:
    import sqlite3

    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "1.csv").write_text("a\n1\n")
    (tmp_path / "parts" / "2.csv").write_text("a\n2\n")
    with sqlite3.connect(tmp_path / "db.sqlite") as con:
        con.execute("create table t (a integer)")
        con.executemany("insert into t values (?)", [(1,), (2,)])
    loaded = project(
        tmp_path,
        folder=SourceConfig(kind="folder", path="parts"),
        db=SourceConfig(kind="sql", url="sqlite:///db.sqlite", query="select a from t order by a"),
    )
    from_folder = ingest(loaded, metadata, artifacts, "folder").dataset
    from_sql = ingest(loaded, metadata, artifacts, "db").dataset
    assert from_folder.n_rows == from_sql.n_rows == 2
    assert from_folder.content_hash == from_sql.content_hash  # same content, different sources
    assert from_folder.id != from_sql.id


def test_a_tampered_snapshot_is_refused(tmp_path, metadata, artifacts) -> None:
    ds = ingest(csv_project(tmp_path, GOOD), metadata, artifacts, "sales").dataset
    path = tmp_path / "a" / ds.artifact[:2] / ds.artifact[2:]
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(IntegrityError):
        load_dataset(artifacts, ds)
