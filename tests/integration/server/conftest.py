"""Fixtures: a served spam project (copied from a session template) and an app client over it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from project_helpers import trained_project
from serving_helpers import build_template, copy_project, make_client


@pytest.fixture(scope="session")
def spam_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_template(tmp_path_factory.mktemp("template") / "spam")


@pytest.fixture
def spam_project(spam_template: Path, tmp_path: Path) -> Path:
    return copy_project(spam_template, tmp_path / "spam")


@pytest.fixture
def client(spam_project: Path) -> Iterator[TestClient]:
    with make_client(spam_project) as c:
        yield c


@pytest.fixture(scope="session")
def features_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The quickstart project with its feature service: trained, materialized and promoted."""
    root = tmp_path_factory.mktemp("features_template") / "spam"
    return trained_project(root, feature_service=True, materialize=True)
