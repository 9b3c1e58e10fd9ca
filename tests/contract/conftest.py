"""The contract suites run every metadata backend: SQLite, PostgreSQL and the in-memory fake.

The fake is the one unit tests use instead of a database; running it through the same tests as the real
stores is what keeps it from drifting. Tests that need a URL (reopening, several processes) take
``metadata_url`` and run on the persistent backends only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mlfactory.stores import MetadataStore, open_metadata_store


@pytest.fixture(params=["sqlite", "postgres", "memory"])
def metadata(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetadataStore]:
    if request.param == "memory":
        url = "memory://"
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'meta' / 'mlfactory.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    store = open_metadata_store(url)
    yield store
    store.close()
