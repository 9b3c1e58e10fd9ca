"""Pages of runs and events, cut and ordered by the store: every backend answers the same page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mlfactory.entities import Metric, RunClause, RunStatus
from mlfactory.errors import ConfigError
from mlfactory.stores import MetadataStore


def _runs(metadata: MetadataStore) -> list[str]:
    """Six runs: names c, a, b, c, a, b; every third failed; started one after another."""
    ids = []
    for i, name in enumerate("cabcab"):
        run = metadata.create_run(name, params={"i": i})
        metadata.log_metrics(run, [Metric("score", float(i))])
        metadata.end_run(run, RunStatus.FAILED if i % 3 == 0 else RunStatus.FINISHED)
        ids.append(run)
    return ids


def test_runs_pages_newest_first_by_default(metadata: MetadataStore) -> None:
    ids = _runs(metadata)
    newest = [r.id for r in metadata.list_runs()]
    assert set(newest) == set(ids)
    assert [r.id for r in metadata.list_runs(limit=2)] == newest[:2]
    assert [r.id for r in metadata.list_runs(offset=2, limit=2)] == newest[2:4]
    assert [r.id for r in metadata.list_runs(offset=5, limit=2)] == newest[5:]
    assert metadata.list_runs(offset=6) == []
    oldest = metadata.list_runs(descending=False)
    assert [r.started_at for r in oldest] == sorted(r.started_at for r in oldest)
    assert {r.id for r in oldest} == set(ids)


def test_runs_sort_by_name_and_status(metadata: MetadataStore) -> None:
    _runs(metadata)
    names = [r.name for r in metadata.list_runs(sort="name", descending=False)]
    assert names == sorted(names) == ["a", "a", "b", "b", "c", "c"]
    assert [r.name for r in metadata.list_runs(sort="name", limit=3)] == ["c", "c", "b"]
    statuses = [r.status.value for r in metadata.list_runs(sort="status", descending=False)]
    assert statuses == ["failed", "failed", "finished", "finished", "finished", "finished"]
    assert [r.name for r in metadata.list_runs(sort="name", descending=False, offset=2, limit=2)] == [
        "b",
        "b",
    ]
    with pytest.raises(ConfigError, match="sort"):
        metadata.list_runs(sort="params.C")  # metrics.KEY sorts (test_run_reads), params do not


def test_found_runs_page_like_listed_ones(metadata: MetadataStore) -> None:
    _runs(metadata)
    over = [RunClause("metrics", "score", ">", "0")]
    every = [r.id for r in metadata.find_runs(over)]
    assert len(every) == 5
    assert [r.id for r in metadata.find_runs(over, offset=1, limit=2)] == every[1:3]
    by_name = [r.name for r in metadata.find_runs(over, sort="name", descending=False)]
    assert by_name == ["a", "a", "b", "b", "c"]


def _events(metadata: MetadataStore) -> None:
    for i in range(10):
        metadata.add_event(
            "test.e", actor="ann" if i % 2 else "bob", model="m" if i < 8 else None, reason=str(i)
        )


def test_events_page_newest_first(metadata: MetadataStore) -> None:
    _events(metadata)
    page = metadata.list_events(kinds=["test.e"], newest_first=True, offset=2, limit=3)
    assert [e.reason for e in page] == ["7", "6", "5"]
    assert [e.reason for e in metadata.list_events(kinds=["test.e"], limit=3)] == ["7", "8", "9"]
    # offset skips the newest, in either order
    assert [e.reason for e in metadata.list_events(kinds=["test.e"], offset=1, limit=3)] == ["6", "7", "8"]
    everything = metadata.list_events(kinds=["test.e"])
    assert [e.reason for e in everything] == [str(i) for i in range(10)]


def test_events_filter_by_actor_and_time(metadata: MetadataStore) -> None:
    _events(metadata)
    ann = metadata.list_events(kinds=["test.e"], actor="ann", newest_first=True)
    assert [e.reason for e in ann] == ["9", "7", "5", "3", "1"]
    model = metadata.list_events(model="m", actor="bob", newest_first=True, limit=2)
    assert [e.reason for e in model] == ["6", "4"]
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert metadata.list_events(kinds=["test.e"], until=later, limit=1)[0].reason == "9"
    assert metadata.list_events(kinds=["test.e"], until=datetime(2000, 1, 1, tzinfo=UTC)) == []
