"""Reading sources: each kind, project-relative paths, datetime parsing and the errors users meet."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from mlfactory.config import ColumnSpec, LoadedConfig, ProjectConfig, SourceConfig
from mlfactory.data.sources import read_source
from mlfactory.errors import ConfigError, NotFoundError, StoreUnavailableError, ValidationError


def project(root: Path, **sources: SourceConfig) -> LoadedConfig:
    return LoadedConfig(
        config=ProjectConfig(name="t", sources=sources), root=root.resolve(), file_hash="x", origins={}
    )


def read(root: Path, source: SourceConfig) -> pd.DataFrame:
    return read_source("src", source, project(root, src=source))


def test_csv_is_read_relative_to_the_project(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.csv").write_text("a,b\n1,x\n2,y\n")
    df = read(tmp_path, SourceConfig(kind="csv", path="data/x.csv"))
    assert df["a"].tolist() == [1, 2]
    assert df["b"].tolist() == ["x", "y"]


def test_parquet(tmp_path: Path) -> None:
    pd.DataFrame({"a": [1.5, 2.5], "b": ["p", "q"]}).to_parquet(tmp_path / "x.parquet")
    df = read(tmp_path, SourceConfig(kind="parquet", path="x.parquet"))
    assert df["a"].tolist() == [1.5, 2.5]
    assert df["b"].tolist() == ["p", "q"]


def test_folder_concatenates_files_sorted_by_name(tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    (folder / "b.csv").write_text("a,b\n3,z\n")
    pd.DataFrame({"b": ["x", "y"], "a": [1, 2]}).to_parquet(folder / "a.parquet")  # other column order
    (folder / "notes.txt").write_text("ignored")
    df = read(tmp_path, SourceConfig(kind="folder", path="parts"))
    assert list(df.columns) == ["b", "a"]
    assert df["a"].tolist() == [1, 2, 3]
    assert list(df.index) == [0, 1, 2]


def test_folder_with_mismatched_columns_names_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    (folder / "01.csv").write_text("a,b\n1,x\n")
    (folder / "02.csv").write_text("a,c\n2,y\n")
    with pytest.raises(ValidationError) as info:
        read(tmp_path, SourceConfig(kind="folder", path="parts"))
    message = str(info.value)
    assert "02.csv" in message and "'b'" in message and "'c'" in message


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "parts").mkdir()
    with pytest.raises(ValidationError, match=r"no \.csv"):
        read(tmp_path, SourceConfig(kind="folder", path="parts"))


def test_missing_file_names_path_and_source(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError) as info:
        read_source("sales", SourceConfig(kind="csv", path="nope.csv"), project(tmp_path))
    assert "nope.csv" in str(info.value) and "'sales'" in str(info.value)


def test_path_escaping_the_project_is_refused(tmp_path: Path) -> None:
    (tmp_path / "outside.csv").write_text("a\n1\n")
    root = tmp_path / "proj"
    root.mkdir()
    with pytest.raises(ConfigError, match="escapes"):
        read(root, SourceConfig(kind="csv", path="../outside.csv"))


@pytest.mark.parametrize("text", ["", "a,b\n"])
def test_empty_data_is_a_validation_error(tmp_path: Path, text: str) -> None:
    (tmp_path / "x.csv").write_text(text)
    with pytest.raises(ValidationError, match="no data"):
        read(tmp_path, SourceConfig(kind="csv", path="x.csv"))


def test_unreadable_parquet_is_a_validation_error(tmp_path: Path) -> None:
    (tmp_path / "x.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(ValidationError, match=r"x\.parquet"):
        read(tmp_path, SourceConfig(kind="parquet", path="x.parquet"))


def make_sqlite(path: Path) -> None:
    with sqlite3.connect(path) as con:
        con.execute("create table t (id integer, name text, score real)")
        con.executemany("insert into t values (?, ?, ?)", [(1, "a", 0.5), (2, "b", 1.5), (3, "c", None)])


def test_sql_over_an_absolute_sqlite_url(tmp_path: Path) -> None:
    make_sqlite(tmp_path / "db.sqlite")
    source = SourceConfig(kind="sql", url=f"sqlite:///{tmp_path / 'db.sqlite'}", query="select * from t")
    df = read(tmp_path, source)
    assert df["id"].tolist() == [1, 2, 3]
    assert df["name"].tolist() == ["a", "b", "c"]
    assert df["score"].iloc[:2].tolist() == [0.5, 1.5] and pd.isna(df["score"].iloc[2])


def test_sql_relative_sqlite_path_is_project_relative(tmp_path: Path) -> None:
    make_sqlite(tmp_path / "db.sqlite")
    source = SourceConfig(kind="sql", url="sqlite:///db.sqlite", query="select id from t where id > 1")
    assert read(tmp_path, source)["id"].tolist() == [2, 3]


def test_sql_missing_sqlite_file_is_not_created(tmp_path: Path) -> None:
    source = SourceConfig(kind="sql", url="sqlite:///missing.db", query="select 1")
    with pytest.raises(NotFoundError, match=r"missing\.db"):
        read(tmp_path, source)
    assert not (tmp_path / "missing.db").exists()


def test_sql_bad_query_is_a_config_error(tmp_path: Path) -> None:
    make_sqlite(tmp_path / "db.sqlite")
    source = SourceConfig(kind="sql", url="sqlite:///db.sqlite", query="select * from nope")
    with pytest.raises(ConfigError, match="nope"):
        read(tmp_path, source)


def test_sql_unreachable_database_masks_the_password(tmp_path: Path) -> None:
    source = SourceConfig(kind="sql", url="postgresql+psycopg://u:secret@127.0.0.1:1/x", query="select 1")
    with pytest.raises(StoreUnavailableError) as info:
        read(tmp_path, source)
    message = str(info.value)
    assert "secret" not in message
    assert "127.0.0.1:1" in message and "***" in message
    assert "check" in message


def test_declared_datetime_columns_become_utc(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("when,n\n2024-01-01T10:00:00+02:00,1\n2024-01-02,2\n")
    source = SourceConfig(kind="csv", path="x.csv", columns={"when": ColumnSpec(type="datetime")})
    df = read(tmp_path, source)
    assert str(df["when"].dt.tz) == "UTC"
    assert df["when"].tolist() == [pd.Timestamp("2024-01-01T08:00Z"), pd.Timestamp("2024-01-02T00:00Z")]


def test_declared_datetime_with_bad_values_is_left_for_validation(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("when\n2024-01-01\nyesterday\n")
    source = SourceConfig(kind="csv", path="x.csv", columns={"when": ColumnSpec(type="datetime")})
    assert read(tmp_path, source)["when"].tolist() == ["2024-01-01", "yesterday"]


def test_undeclared_iso_strings_are_parsed_but_other_strings_are_not(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text(
        "day,stamp,word,mixed\n2024-03-01,2024-03-01T12:30:00Z,2024-03-01x,2024-03-01\n"
        "2024-03-02,2024-03-02 13:00:00,hello,later\n"
    )
    df = read(tmp_path, SourceConfig(kind="csv", path="x.csv"))
    assert str(df["day"].dt.tz) == "UTC" and df["day"].iloc[1] == pd.Timestamp("2024-03-02", tz="UTC")
    assert df["stamp"].iloc[0] == pd.Timestamp("2024-03-01T12:30:00", tz="UTC")
    assert df["word"].tolist() == ["2024-03-01x", "hello"]
    assert df["mixed"].tolist() == ["2024-03-01", "later"]


def test_declared_text_column_keeps_leading_zeros(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("zip,n\n01234,1\n98765,2\n")
    source = SourceConfig(kind="csv", path="x.csv", columns={"zip": ColumnSpec(type="category")})
    assert read(tmp_path, source)["zip"].tolist() == ["01234", "98765"]


def test_a_sqlite_source_query_cannot_write(tmp_path: Path) -> None:
    make_sqlite(tmp_path / "db.sqlite")
    for query in ("delete from t returning id", "drop table t"):
        source = SourceConfig(kind="sql", url="sqlite:///db.sqlite", query=query)
        with pytest.raises(ConfigError, match=r"readonly|read-only|query_only"):
            read(tmp_path, source)
    with sqlite3.connect(tmp_path / "db.sqlite") as con:
        assert con.execute("select count(*) from t").fetchone() == (3,)


@pytest.mark.postgres
def test_a_postgresql_source_query_cannot_write(tmp_path: Path, postgres_url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(postgres_url)
    with engine.begin() as c:
        c.execute(sa.text("create table t (id integer)"))
        c.execute(sa.text("insert into t values (1), (2)"))
    for query in ("drop table t", "delete from t returning id", "select 1; drop table t"):
        source = SourceConfig(kind="sql", url=postgres_url, query=query)
        with pytest.raises(ConfigError, match="read-only transaction"):
            read(tmp_path, source)
    with engine.connect() as c:
        assert c.execute(sa.text("select count(*) from t")).scalar() == 2
    engine.dispose()
