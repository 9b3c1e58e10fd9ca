"""Shared fixtures: stores on every backend, services found at configured URLs.

PostgreSQL and Redis are looked up at MLFACTORY_TEST_POSTGRES_URL / MLFACTORY_TEST_REDIS_URL (defaults: the
local servers). When one is missing its tests skip with the reason, unless MLFACTORY_REQUIRE_SERVICES=1
(set by .ci/run), where a missing service fails the run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from mlfactory.stores import LocalArtifactStore, MetadataStore, open_metadata_store

POSTGRES_URL = os.environ.get(
    "MLFACTORY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("MLFACTORY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE = os.environ.get("MLFACTORY_REQUIRE_SERVICES") == "1"


def _missing(what: str, why: str) -> None:
    if REQUIRE:
        pytest.fail(f"{what} is required (MLFACTORY_REQUIRE_SERVICES=1) but unavailable: {why}")
    pytest.skip(f"{what} unavailable: {why}")


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    try:
        engine = sa.create_engine(POSTGRES_URL)
        with engine.connect() as c:
            c.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:  # any driver or connection error means: not available
        _missing(f"PostgreSQL at {POSTGRES_URL}", str(exc).splitlines()[0])
    return POSTGRES_URL


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A URL whose search_path is a fresh, empty schema, dropped after the test."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(postgres_admin_url)
    with engine.begin() as c:
        c.execute(sa.text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in postgres_admin_url else "?"
    yield f"{postgres_admin_url}{sep}options=-csearch_path%3D{schema}"
    with engine.begin() as c:
        c.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'meta' / 'mlfactory.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def metadata_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The metadata URL of every backend, one test per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta' / 'mlfactory.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def metadata(metadata_url: str) -> Iterator[MetadataStore]:
    store = open_metadata_store(metadata_url)
    yield store
    store.close()


@pytest.fixture
def artifacts(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


@pytest.fixture
def redis_url() -> str:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:  # any import or connection error means: not available
        _missing(f"Redis at {REDIS_URL}", str(exc).splitlines()[0])
    return REDIS_URL


@pytest.fixture
def trained_spam(tmp_path: Path) -> Path:
    """The quickstart's spam project, trained once, version 1 in production: a copy of the session's
    template (see :func:`project_helpers.trained_project` for other kinds)."""
    from project_helpers import trained_project  # imports the quickstart: only tests that train pay

    return trained_project(tmp_path / "spam")
