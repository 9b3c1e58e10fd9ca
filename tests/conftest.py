"""Shared fixtures: stores on every backend, services found at configured URLs.

PostgreSQL and Redis are looked up at MLFACTORY_TEST_POSTGRES_URL / MLFACTORY_TEST_REDIS_URL (defaults: the
local servers). The S3-compatible server is moto's standalone server, and Azure Blob is Azurite (installed
into .ci/node by `make install-dev`), each started on loopback by the tests. When one is missing its tests
skip with the reason, unless MLFACTORY_REQUIRE_SERVICES=1 (set by .ci/run), where a missing service fails the
run.
"""

from __future__ import annotations

import os
import shutil
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


def _await_port(proc: subprocess.Popen[bytes], port: int, what: str) -> None:
    """Wait until a server started on loopback accepts connections on ``port``."""
    deadline = time.monotonic() + 30  # a startup bound, not a result: the server answers or we give up
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                _missing(what, f"it did not start on port {port}")
            time.sleep(0.1)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


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
        _await_port(proc, port, "the S3 test server (moto)")
        yield endpoint
    finally:
        _stop(proc)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class Bucket(NamedTuple):
    """A fresh bucket (or Azure container) on a test server: its URL (``s3://…``, ``az://…``), the storage
    options that reach it, and its name."""

    url: str
    storage_options: dict[str, Any]
    name: str


@pytest.fixture
def s3_bucket(s3_server: str) -> Bucket:
    """A fresh, empty bucket on the loopback S3 server."""
    import boto3

    name = f"t-{uuid.uuid4().hex[:16]}"
    boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1").create_bucket(Bucket=name)
    return Bucket(f"s3://{name}", {"endpoint_url": s3_server}, name)


# the development account that Microsoft publishes for its storage emulators; a user passes a connection
# string like this one through the environment, never the project file
_AZURITE_ACCOUNT = "devstoreaccount1"
_AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
_AZURITE_BIN = Path(__file__).resolve().parents[1] / ".ci" / "node" / "node_modules" / ".bin" / "azurite-blob"


def _azurite_command() -> str | None:
    """Azurite's blob service as `make install-dev` installs it, else one on PATH."""
    return str(_AZURITE_BIN) if _AZURITE_BIN.exists() else shutil.which("azurite-blob")


@pytest.fixture(scope="session")
def azurite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Azurite's blob service on a free loopback port (real HTTP, block uploads); yields its connection
    string, which is also in the environment (AZURE_STORAGE_CONNECTION_STRING) for the session, as a user
    sets it."""
    try:
        import adlfs  # noqa: F401
    except ImportError as exc:
        _missing("the Azure Blob test server (adlfs)", str(exc))
    command = _azurite_command()
    if command is None:
        _missing("the Azure Blob test server (Azurite)", f"{_AZURITE_BIN} not found; run make install-dev")
    port = _free_port()
    connection = (
        f"DefaultEndpointsProtocol=http;AccountName={_AZURITE_ACCOUNT};AccountKey={_AZURITE_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{_AZURITE_ACCOUNT};"
    )
    saved = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
    os.environ["AZURE_STORAGE_CONNECTION_STRING"] = connection
    where = tmp_path_factory.mktemp("azurite")
    address = ["--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(where)]
    proc = subprocess.Popen(
        [command, *address, "--skipApiVersionCheck", "--loose", "--silent"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _await_port(proc, port, "the Azure Blob test server (Azurite)")
        yield connection
    finally:
        proc.kill()  # it waits for idle keep-alive connections when asked to stop; its folder is thrown away
        proc.wait(timeout=10)
        if saved is None:
            os.environ.pop("AZURE_STORAGE_CONNECTION_STRING", None)
        else:
            os.environ["AZURE_STORAGE_CONNECTION_STRING"] = saved


@pytest.fixture
def azure_container(azurite_server: str) -> Bucket:
    """A fresh, empty container on the loopback Azurite server; it is reached with no storage options at all,
    the connection string coming from the environment."""
    from azure.storage.blob import BlobServiceClient

    name = f"t-{uuid.uuid4().hex[:16]}"
    BlobServiceClient.from_connection_string(azurite_server).create_container(name)
    return Bucket(f"az://{name}", {}, name)
