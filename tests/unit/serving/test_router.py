"""Routing statistics: canary weights are respected, A/B assignment is sticky by key."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from mlfactory.serving import RoutingPolicy
from mlfactory.serving.router import build_table, stable_bucket


def _served(v: int) -> Any:
    return SimpleNamespace(number=v)


def test_canary_weight_within_tolerance_over_seeded_keys() -> None:
    table = build_table(
        "spam", RoutingPolicy(canary=2, canary_weight=10, key="user"), 1, {1: _served(1), 2: _served(2)}, None
    )
    keys = [f"user-{i}" for i in range(20_000)]
    idx = table.assign(len(keys), keys, np.random.default_rng(0))
    share = float(np.mean([table.routes[i].name == "canary" for i in idx]))
    assert abs(share - 0.10) < 0.01
    random_idx = table.assign(20_000, None, np.random.default_rng(1))  # no key: random rows, same weight
    assert abs(float(np.mean(random_idx == 0)) - 0.10) < 0.01


def test_ab_is_sticky_and_weighted() -> None:
    policy = RoutingPolicy(ab=((6, 30), (7, 70)), key="user_id")
    table = build_table("spam", policy, None, {6: _served(6), 7: _served(7)}, None)
    other = build_table("spam", policy, None, {6: _served(6), 7: _served(7)}, None)  # e.g. another replica
    keys = [f"u{i}" for i in range(10_000)]
    a = table.assign(len(keys), keys, np.random.default_rng(0))
    b = other.assign(len(keys), keys, np.random.default_rng(99))
    assert (a == b).all()
    assert abs(float(np.mean(a == 0)) - 0.30) < 0.015
    assert stable_bucket("spam", "u1") == stable_bucket("spam", "u1") != stable_bucket("ham", "u1")
    assert [table.routes[i].name for i in table.assign(2, ["u1", "u1"], np.random.default_rng())] == [
        table.routes[a[1]].name
    ] * 2
