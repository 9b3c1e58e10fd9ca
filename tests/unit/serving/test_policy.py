"""Routing policies: validation, round trips, deploy functions and their events."""

from __future__ import annotations

import pytest

from mlfactory.entities import VersionStatus
from mlfactory.errors import ConfigError, ConflictError, NotFoundError
from mlfactory.serving import (
    RoutingPolicy,
    deploy_ab,
    deploy_canary,
    deploy_clear,
    deploy_shadow,
    deploy_status,
    parse_variants,
)
from mlfactory.stores import MetadataStore


def test_policy_validates_itself() -> None:
    with pytest.raises(ConfigError, match="either a canary or an A/B"):
        RoutingPolicy(canary=2, canary_weight=10, ab=((1, 50), (2, 50)), key="u")
    with pytest.raises(ConfigError, match="percent"):
        RoutingPolicy(canary=2, canary_weight=0)
    with pytest.raises(ConfigError, match="sum to 100"):
        RoutingPolicy(ab=((1, 50), (2, 40)), key="u")
    with pytest.raises(ConfigError, match="needs --key"):
        RoutingPolicy(ab=((1, 50), (2, 50)))
    p = RoutingPolicy(ab=((1, 30.0), (2, 70.0)), key="user_id", shadow=3)
    assert RoutingPolicy.from_dict(p.to_dict()) == p
    assert p.versions() == {1, 2, 3}


def test_parse_variants() -> None:
    assert parse_variants("6:50, 7:50") == [(6, 50.0), (7, 50.0)]
    with pytest.raises(ConfigError, match="VERSION:WEIGHT"):
        parse_variants("6:50,7")


def _register(metadata: MetadataStore, n: int, rejected: tuple[int, ...] = ()) -> None:
    for v in range(1, n + 1):
        status = VersionStatus.REJECTED if v in rejected else VersionStatus.READY
        metadata.create_model_version(
            "m",
            status=status,
            run_id=None,
            artifact="0" * 64,
            flavor="skops",
            signature={"inputs": []},
            metrics={},
            gates=[],
            profile={},
            lineage={},
            card="",
        )


def test_deploy_lifecycle_every_change_is_an_event(metadata: MetadataStore) -> None:
    _register(metadata, 4, rejected=(4,))
    with pytest.raises(ConflictError, match="no 'production' alias"):
        deploy_canary(metadata, "m", 2, weight=10, actor="t")
    metadata.move_alias("m", "production", 1, kind="alias.set", actor="t", reason="")
    deploy_canary(metadata, "m", 2, weight=10, actor="t", reason="try v2")
    assert deploy_status(metadata, "m")["traffic_percent"] == {"v1": 90.0, "v2": 10.0}
    deploy_shadow(metadata, "m", 4, actor="t")  # a rejected version may shadow
    with pytest.raises(ConflictError, match="rejected"):
        deploy_canary(metadata, "m", 4, weight=5, actor="t")
    with pytest.raises(ConflictError, match="has a canary"):
        deploy_ab(metadata, "m", [(1, 50), (2, 50)], key="u", actor="t")
    with pytest.raises(NotFoundError, match="no version 9"):
        deploy_canary(metadata, "m", 9, weight=5, actor="t")
    deploy_clear(metadata, "m", actor="t", reason="done")
    deploy_ab(metadata, "m", [(2, 50), (3, 50)], key="user_id", actor="t")
    status = deploy_status(metadata, "m")
    assert status["traffic_percent"] == {"v2": 50.0, "v3": 50.0} and status["shadow"] is None
    kinds = [
        (e.kind, e.reason) for e in metadata.list_events(model="m", kinds=["routing.set", "routing.cleared"])
    ]
    assert kinds == [
        ("routing.set", "try v2"),
        ("routing.set", ""),
        ("routing.cleared", "done"),
        ("routing.set", ""),
    ]
    last = metadata.list_events(model="m", kinds=["routing.set"])[-1]
    assert last.payload["to"]["ab"] == [[2, 50.0], [3, 50.0]] and last.payload["from"] is None
    with pytest.raises(NotFoundError):
        deploy_status(metadata, "nope")


def test_feedback_store(metadata: MetadataStore) -> None:
    assert metadata.add_feedback([("r1", 1), ("r2", "spam"), ("r1", 0)], actor="t", model="m") == 2
    metadata.add_feedback([("r2", True)], actor="t", model="m")
    got = {f.request_id: f.label for f in metadata.get_feedback(["r1", "r2", "r3"])}
    assert got == {"r1": 0, "r2": True}
    assert len(metadata.get_feedback()) == 2
