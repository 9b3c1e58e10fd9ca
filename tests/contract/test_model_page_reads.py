"""The reads behind a model's page, cut by the store: a page of its versions with their aliases, and a page
of its timeline (registrations and alias moves), on every metadata backend."""

from __future__ import annotations

import pytest

from mlfactory.entities import PRODUCTION, ModelVersion, VersionStatus
from mlfactory.errors import NotFoundError
from mlfactory.stores import MetadataStore
from mlfactory.stores.metadata.registry import TIMELINE_KINDS


def _register(metadata: MetadataStore, name: str, n: int) -> None:
    """``n`` versions of ``name``, every third rejected, each with its own metric and card."""
    for i in range(1, n + 1):
        rejected = i % 3 == 0
        metadata.create_model_version(
            name,
            status=VersionStatus.REJECTED if rejected else VersionStatus.READY,
            run_id=None,
            artifact=f"{i:064x}",
            flavor="skops",
            signature={"inputs": [{"name": "x", "type": "number"}]},
            metrics={"f1": i / 10},
            gates=[{"metric": "f1", "passed": not rejected}],
            profile={},
            lineage={"dataset": f"d{i}"},
            card="# v{version}",
        )


def _numbers(versions: list[ModelVersion]) -> list[int]:
    return [v.version for v in versions]


def test_versions_page_is_newest_first_with_the_same_records_as_one_by_one_reads(
    metadata: MetadataStore,
) -> None:
    _register(metadata, "m", 7)
    _register(metadata, "other", 2)
    metadata.move_alias("m", PRODUCTION, 5, kind="alias.set", actor="t", reason="r")
    metadata.move_alias("m", "staging", 5, kind="alias.set", actor="t", reason="r")
    metadata.move_alias("m", "canary", 7, kind="alias.set", actor="t", reason="r")
    assert _numbers(metadata.model_versions_page("m", limit=3)) == [7, 6, 5]
    assert _numbers(metadata.model_versions_page("m", offset=3, limit=3)) == [4, 3, 2]
    assert _numbers(metadata.model_versions_page("m", offset=6, limit=3)) == [1]
    assert metadata.model_versions_page("m", offset=7, limit=3) == []
    whole = metadata.model_versions_page("m", limit=100)
    assert whole == [metadata.get_model_version("m", n) for n in range(7, 0, -1)]
    assert whole == metadata.list_model_versions("m")[::-1]
    assert whole[2].aliases == ("production", "staging") and whole[0].aliases == ("canary",)
    assert _numbers(metadata.model_versions_page("other")) == [2, 1]


def test_versions_page_of_an_unknown_model_names_the_registered_ones(metadata: MetadataStore) -> None:
    _register(metadata, "m", 1)
    with pytest.raises(NotFoundError, match=r"no model named 'nothing' \(registered: m\)"):
        metadata.model_versions_page("nothing")
    with pytest.raises(NotFoundError, match="no model named 'nothing'"):
        metadata.model_versions_page("nothing", offset=5)


def test_timeline_pages_hold_only_the_models_registrations_and_alias_moves(metadata: MetadataStore) -> None:
    _register(metadata, "m", 3)
    _register(metadata, "other", 2)
    metadata.move_alias("m", PRODUCTION, 1, kind="alias.set", actor="t", reason="first")
    metadata.add_event("monitor.alert", actor="monitor", model="m", reason="noise")
    metadata.move_alias("other", PRODUCTION, 2, kind="alias.set", actor="t", reason="elsewhere")
    metadata.move_alias("m", PRODUCTION, 3, kind="alias.set", actor="t", reason="second")
    metadata.move_alias("m", PRODUCTION, 1, kind="alias.rollback", actor="t", reason="back")
    metadata.move_alias("m", PRODUCTION, None, kind="alias.removed", actor="t", reason="gone")
    metadata.add_event("alias.set", actor="t", reason="no model")
    expected = metadata.list_events(model="m", kinds=TIMELINE_KINDS, newest_first=True)
    assert [e.reason for e in expected[:4]] == ["gone", "back", "second", "first"]
    assert len(expected) == 7  # three registrations, four alias moves; not the alert, not the others
    assert metadata.model_timeline("m", limit=100) == expected
    assert metadata.model_timeline("m", limit=3) == expected[:3]
    assert metadata.model_timeline("m", offset=3, limit=3) == expected[3:6]
    assert metadata.model_timeline("m", offset=6, limit=3) == expected[6:]
    assert metadata.model_timeline("m", offset=7) == []
    assert [e.kind for e in metadata.model_timeline("other")] == ["alias.set"] + ["model.registered"] * 2
    assert metadata.model_timeline("nothing") == []


def test_a_long_timeline_pages_through_every_event_once(metadata: MetadataStore) -> None:
    _register(metadata, "m", 2)
    for i in range(40):
        metadata.move_alias("m", PRODUCTION, 1 + i % 2, kind="alias.set", actor="t", reason=f"move {i}")
        metadata.add_event("bench.tick", actor="t", model="m", reason=f"tick {i}")
    pages = [metadata.model_timeline("m", offset=o, limit=7) for o in range(0, 49, 7)]
    seen = [e.id for page in pages for e in page]
    assert len(seen) == len(set(seen)) == 42
    assert seen == [e.id for e in metadata.list_events(model="m", kinds=TIMELINE_KINDS, newest_first=True)]
    assert pages[0][0].reason == "move 39"
