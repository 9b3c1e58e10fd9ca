"""Shared fixtures: stores on every backend, services found at configured URLs.

PostgreSQL and Redis are looked up at MLFACTORY_TEST_POSTGRES_URL / MLFACTORY_TEST_REDIS_URL (defaults: the
local servers). The S3-compatible server is moto's standalone server, started on loopback by the tests. When
one is missing its tests skip with the reason, unless MLFACTORY_REQUIRE_SERVICES=1 (set by .ci/run), where a
missing service fails the run.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# test credentials for the loopback server: the standard chain (environment) is how mlfactory gets them
_S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """moto's standalone S3 server on a free loopback port (real HTTP, real multipart uploads); yields its
    endpoint URL with test credentials in the environment for the session."""
    try:
        import moto.server  # noqa: F401
        import s3fs  # noqa: F401
    except ImportError as exc:
        _missing("the S3 test server (moto[server], s3fs)", str(exc))
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in _S3_ENV}
    os.environ.update(_S3_ENV)
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30  # a startup bound, not a result: the server answers or we give up
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    _missing("the S3 test server (moto)", f"it did not start on port {port}")
                time.sleep(0.1)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class S3Bucket(NamedTuple):
    """A fresh bucket on the test server: its ``s3://`` URL and the storage options that reach it."""

    url: str
    storage_options: dict[str, Any]
    name: str


@pytest.fixture
def s3_bucket(s3_server: str) -> S3Bucket:
    """A fresh, empty bucket on the loopback S3 server."""
    import boto3

    name = f"t-{uuid.uuid4().hex[:16]}"
    boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1").create_bucket(Bucket=name)
    return S3Bucket(f"s3://{name}", {"endpoint_url": s3_server}, name)
