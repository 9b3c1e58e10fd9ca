"""Reading an MLflow store: what is refused before anything is read, and how MLflow aliases are spelled
here (the store itself, written by the real MLflow, is exercised in tests/e2e/test_mlflow_interop.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlfactory.errors import ConfigError, NotFoundError
from mlfactory.registry.mlflow_import import _alias
from mlfactory.registry.mlflow_store import read_registered_model, shown_uri


@pytest.mark.parametrize("uri", ["./mlruns", "file:///tmp/mlruns", "http://127.0.0.1:5000", "databricks"])
def test_only_an_mlflow_database_is_read(uri: str) -> None:
    with pytest.raises(ConfigError, match="not an MLflow database"):
        read_registered_model(uri, "fraud")


def test_a_missing_sqlite_file_is_named_and_not_created(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    with pytest.raises(NotFoundError, match="no MLflow database at"):
        read_registered_model(f"sqlite:///{db}", "fraud")
    assert not db.exists()


def test_a_database_without_a_registry_is_refused(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "other.db"
    sqlite3.connect(db).execute("create table t (x int)").connection.commit()
    with pytest.raises(ConfigError, match="no MLflow model registry"):
        read_registered_model(f"sqlite:///{db}", "fraud")


def test_the_password_never_shows() -> None:
    assert shown_uri("postgresql://mlflow:s3cret@db:5432/mlflow") == "postgresql://mlflow:***@db:5432/mlflow"


@pytest.mark.parametrize(
    ("mlflow_alias", "alias"),
    [
        ("champion", "production"),
        ("Champion", "production"),
        ("production", "production"),
        ("Challenger", "challenger"),
        ("2024-q1", "mlflow-2024-q1"),
        ("_tmp", "mlflow-_tmp"),
    ],
)
def test_mlflow_aliases_as_mlfactory_spells_them(mlflow_alias: str, alias: str) -> None:
    assert _alias(mlflow_alias) == alias
