"""Promoting a version is one atomic step on every metadata backend: the version judged, the alias moved and
the audit event written together, or none of them."""

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from mlfactory.entities import VersionStatus
from mlfactory.errors import ConflictError, NotFoundError
from mlfactory.registry import Registry
from mlfactory.stores import LocalArtifactStore, MetadataStore, open_metadata_store


def _version(store: MetadataStore, status: VersionStatus = VersionStatus.READY) -> int:
    passed = status == VersionStatus.READY
    return store.create_model_version(
        "m",
        status=status,
        run_id=None,
        artifact="b" * 64,
        flavor="skops",
        signature={"inputs": []},
        metrics={"accuracy": 0.9},
        gates=[{"metric": "accuracy", "rule": "accuracy >= 0.95", "passed": passed}],
        profile={"big": list(range(1000))},
        lineage={},
        card="# v{version}",
    ).version


def _registry(store: MetadataStore, tmp_path: Path) -> Registry:
    return Registry(store, LocalArtifactStore(tmp_path / "artifacts"))


def test_a_failure_writing_the_event_leaves_the_alias_where_it_was(
    metadata: MetadataStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = _registry(metadata, tmp_path)
    first, second = _version(metadata), _version(metadata)
    registry.promote("m", first, actor="me")
    before = metadata.list_events(model="m")

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the event log is full")

    monkeypatch.setattr(metadata, "_insert_event", broken)
    with pytest.raises(RuntimeError, match="event log is full"):
        registry.promote("m", second, actor="me")
    monkeypatch.undo()
    assert metadata.get_aliases("m") == {("m", "production"): first}
    assert metadata.list_events(model="m") == before
    registry.promote("m", second, actor="me")  # the store is usable afterwards
    assert metadata.get_aliases("m") == {("m", "production"): second}


def test_a_rejected_version_is_refused_production_unless_forced(
    metadata: MetadataStore, tmp_path: Path
) -> None:
    registry = _registry(metadata, tmp_path)
    ready, rejected = _version(metadata), _version(metadata, VersionStatus.REJECTED)
    registry.promote("m", ready, actor="me")
    before = metadata.list_events(model="m")
    with pytest.raises(ConflictError, match=r"m/2 was rejected by its gates \(accuracy >= 0.95\).*--force"):
        registry.promote("m", rejected, actor="me")
    assert metadata.get_aliases("m") == {("m", "production"): ready}
    assert metadata.list_events(model="m") == before
    staged = registry.promote("m", rejected, alias="staging", actor="me")  # other aliases take it
    assert "forced" not in staged.payload
    forced = registry.promote("m", rejected, actor="me", reason="hotfix", force=True)
    assert forced.payload == {"alias": "production", "from": ready, "to": rejected, "forced": True}
    assert metadata.get_aliases("m")[("m", "production")] == rejected


def test_promoting_what_does_not_exist_names_what_does(metadata: MetadataStore, tmp_path: Path) -> None:
    registry = _registry(metadata, tmp_path)
    _version(metadata)
    with pytest.raises(NotFoundError, match=r"has no version 7 \(versions: \[1\]\)"):
        registry.promote("m", 7, actor="me")
    with pytest.raises(NotFoundError, match=r"no model named 'other' \(registered: m\)"):
        registry.promote("other", 1, actor="me")
    assert metadata.list_events(kinds=["alias.set"]) == []


def test_a_promotion_is_one_transaction(metadata_url: str, tmp_path: Path) -> None:
    store = open_metadata_store(metadata_url)
    try:
        registry = _registry(store, tmp_path)
        first, second = _version(store), _version(store)
        registry.promote("m", first, actor="me")
        begun: list[object] = []
        event.listen(store.engine, "begin", begun.append)  # type: ignore[attr-defined]
        moved = registry.promote("m", second, actor="me")
        assert len(begun) == 1
        assert moved.payload == {"alias": "production", "from": first, "to": second}
    finally:
        store.close()
