"""Archiving and restoring runs and model versions (what `mlfactory prune` writes), on every metadata
backend: archived rows leave the listings but stay readable by id, lineage's needs are refused, and each
change comes with its event in one atomic step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mlfactory.entities import PRODUCTION, Metric, RunClause, RunStatus, VersionStatus
from mlfactory.errors import ConflictError, NotFoundError
from mlfactory.stores import MetadataStore


def _run(metadata: MetadataStore, name: str = "spam", status: RunStatus | None = RunStatus.FINISHED) -> str:
    run_id = metadata.create_run(name, params={"C": 1.0}, tags={"model": name}, dataset_id="emails-1")
    metadata.log_metrics(run_id, [Metric("f1", 0.8, 0, 0.0)])
    if status is not None:
        metadata.end_run(run_id, status)
    return run_id


def _version(
    metadata: MetadataStore, run_id: str | None, name: str = "spam", champion: str | None = None
) -> int:
    lineage = {"dataset": "emails-1", "run": run_id, "champion": champion}
    return metadata.create_model_version(
        name,
        status=VersionStatus.READY,
        run_id=run_id,
        artifact="a" * 64,
        flavor="skops",
        signature={"inputs": [{"name": "x", "type": "number"}]},
        metrics={"f1": 0.8},
        gates=[{"metric": "f1", "passed": True}],
        profile={},
        lineage=lineage,
        card="# v{version}",
    ).version


def test_archived_runs_leave_the_listings_and_stay_readable_by_id(metadata: MetadataStore) -> None:
    kept, dead = _run(metadata), _run(metadata)
    event = metadata.archive_runs([dead], reason="dead.unregistered_runs: no version", actor="prune")
    assert (event.kind, event.actor, event.payload["runs"]) == ("runs.archived", "prune", [dead])
    assert [r.id for r in metadata.list_runs()] == [kept]
    assert [r.id for r in metadata.find_runs([RunClause("name", None, "=", "spam")])] == [kept]
    assert {r.id for r in metadata.list_runs(include_archived=True)} == {kept, dead}
    everything = metadata.find_runs([RunClause("metrics", "f1", ">", "0.5")], include_archived=True)
    assert {r.id for r in everything} == {kept, dead}
    run = metadata.get_run(dead)
    assert run.archived and run.archive_reason == "dead.unregistered_runs: no version"
    assert run.metrics == {"f1": 0.8} and run.params == {"C": 1.0}  # every record kept
    assert not metadata.get_run(kept).archived
    assert metadata.get_runs([dead[:10]])[0].archived  # by a prefix too


def test_archiving_again_keeps_the_first_time_and_reason(metadata: MetadataStore) -> None:
    run_id = _run(metadata)
    metadata.archive_runs([run_id], reason="first", actor="prune")
    first = metadata.get_run(run_id).archived_at
    again = metadata.archive_runs([run_id], reason="second", actor="prune")
    assert again.payload["runs"] == []
    assert (metadata.get_run(run_id).archived_at, metadata.get_run(run_id).archive_reason) == (first, "first")


def test_a_run_whose_version_is_live_is_refused_and_nothing_is_archived(metadata: MetadataStore) -> None:
    free, needed = _run(metadata), _run(metadata)
    _version(metadata, needed)
    with pytest.raises(ConflictError, match=r"trained spam/1.*archive the version first"):
        metadata.archive_runs([free, needed], reason="x", actor="prune")
    assert not metadata.get_run(free).archived and not metadata.get_run(needed).archived
    with pytest.raises(NotFoundError, match="no run 'nope'"):
        metadata.archive_runs([free, "nope"], reason="x", actor="prune")
    assert not metadata.get_run(free).archived


def test_archived_versions_leave_the_listings_and_cannot_take_an_alias(metadata: MetadataStore) -> None:
    run_ids = [_run(metadata) for _ in range(3)]
    for run_id in run_ids:
        _version(metadata, run_id)
    event = metadata.archive_model_versions("spam", [2], reason="never served", actor="prune")
    assert (event.kind, event.model, event.payload["versions"]) == ("model.archived", "spam", [2])
    assert [v.version for v in metadata.list_model_versions("spam")] == [1, 3]
    assert [v.version for v in metadata.model_versions_page("spam")] == [3, 1]
    assert [v.version for v in metadata.list_model_versions("spam", include_archived=True)] == [1, 2, 3]
    assert [v.version for v in metadata.model_versions_page("spam", include_archived=True)] == [3, 2, 1]
    archived = metadata.get_model_version("spam", 2)
    assert archived.archived and archived.archive_reason == "never served"
    assert "model.archived" in [e.kind for e in metadata.model_timeline("spam")]
    with pytest.raises(ConflictError, match=r"spam/2 is archived \(never served\).*prune --restore spam/2"):
        metadata.move_alias("spam", PRODUCTION, 2, kind="alias.set", actor="me", reason="")
    assert metadata.get_aliases("spam") == {}
    # the run of an archived version may go too; the others' runs may not
    metadata.archive_runs([run_ids[1]], reason="trained spam/2", actor="prune")
    assert metadata.get_run(run_ids[1]).archived


def test_a_version_holding_an_alias_is_refused_and_nothing_is_archived(metadata: MetadataStore) -> None:
    for _ in range(2):
        _version(metadata, None)
    metadata.move_alias("spam", "canary", 2, kind="alias.set", actor="me", reason="")
    with pytest.raises(ConflictError, match="spam/2 holds alias canary"):
        metadata.archive_model_versions("spam", [1, 2], reason="x", actor="prune")
    assert [v.version for v in metadata.list_model_versions("spam")] == [1, 2]
    with pytest.raises(NotFoundError, match="no version 9"):
        metadata.archive_model_versions("spam", [1, 9], reason="x", actor="prune")
    with pytest.raises(NotFoundError, match="no model named 'ham'"):
        metadata.archive_model_versions("ham", [1], reason="x", actor="prune")
    assert not metadata.get_model_version("spam", 1).archived


def test_every_version_archived_leaves_an_empty_listing_not_an_unknown_model(metadata: MetadataStore) -> None:
    _version(metadata, None)
    metadata.archive_model_versions("spam", [1], reason="x", actor="prune")
    assert metadata.list_model_versions("spam") == []
    assert metadata.model_versions_page("spam") == []
    with pytest.raises(NotFoundError):
        metadata.list_model_versions("ham")


def test_restoring_a_version_brings_back_the_run_that_trained_it(metadata: MetadataStore) -> None:
    run_id = _run(metadata)
    _version(metadata, run_id)
    metadata.archive_model_versions("spam", [1], reason="x", actor="prune")
    metadata.archive_runs([run_id], reason="trained spam/1", actor="prune")
    event = metadata.restore_model_versions("spam", [1], actor="me", reason="needed after all")
    assert (event.kind, event.payload) == ("model.restored", {"versions": [1], "runs": [run_id]})
    assert not metadata.get_model_version("spam", 1).archived
    assert not metadata.get_run(run_id).archived
    assert [r.id for r in metadata.list_runs()] == [run_id]
    metadata.move_alias("spam", PRODUCTION, 1, kind="alias.set", actor="me", reason="")  # allowed again
    assert metadata.restore_model_versions("spam", [1], actor="me").payload == {"versions": [], "runs": []}


def test_restoring_runs_brings_them_back_into_the_listings(metadata: MetadataStore) -> None:
    a, b = _run(metadata), _run(metadata)
    metadata.archive_runs([a, b], reason="x", actor="prune")
    event = metadata.restore_runs([a], actor="me")
    assert (event.kind, event.payload["runs"]) == ("runs.restored", [a])
    assert [r.id for r in metadata.list_runs()] == [a]
    assert metadata.restore_runs([a], actor="me").payload["runs"] == []
    with pytest.raises(NotFoundError):
        metadata.restore_runs(["nope"], actor="me")


def test_unregistered_runs_are_ended_live_runs_without_a_version_oldest_first(
    metadata: MetadataStore,
) -> None:
    failed = _run(metadata, status=RunStatus.FAILED)
    finished = _run(metadata)
    _run(metadata, status=None)  # still running
    _version(metadata, _run(metadata))  # registered
    archived = _run(metadata)
    metadata.archive_runs([archived], reason="x", actor="prune")
    other = _run(metadata, name="churn")
    later = datetime.now(UTC) + timedelta(seconds=1)
    assert [r.id for r in metadata.unregistered_runs(started_before=later)] == [failed, finished, other]
    assert [r.id for r in metadata.unregistered_runs(started_before=later, limit=2)] == [failed, finished]
    assert metadata.unregistered_runs(started_before=datetime.now(UTC) - timedelta(days=1)) == []
    found = metadata.unregistered_runs(started_before=later)[0]
    assert found.metrics == {"f1": 0.8} and found.status is RunStatus.FAILED
