"""Route tables from a routing-state snapshot: what is served, what a failed load keeps, what is reused."""

from __future__ import annotations

from typing import Any

from mlfactory.serving.router import describe_routes, plan_routes
from unit.serving.fakes import FakeServed


class Loader:
    """Loads fake versions; the numbers in ``broken`` fail with a reason."""

    def __init__(self, broken: set[int] | None = None) -> None:
        self.broken = broken or set()
        self.loaded: dict[int, FakeServed] = {}

    def __call__(self, name: str, version: int, failures: dict[str, str]) -> Any:
        if version in self.broken:
            failures[f"{name}/{version}"] = "IntegrityError: bad artifact"
            return None
        return self.loaded.setdefault(version, FakeServed(version, name))


def test_production_alias_gives_one_route_with_the_snapshot_revision() -> None:
    plan = plan_routes({("spam", "production"): 3, ("spam", "staging"): 4}, {}, {"spam": 17}, {}, Loader())
    table = plan.tables["spam"]
    assert [(r.name, r.served.number) for r in table.routes] == [("production", 3)]
    assert (table.production, table.revision) == (3, 17)
    assert plan.wanted == {"spam"} and plan.failures == {}
    assert table.records_spec is not None  # numeric, no key, no features: records decode straight to numbers


def test_canary_policy_splits_rows_by_weight() -> None:
    policy = {"canary": 4, "canary_weight": 10}
    plan = plan_routes({("spam", "production"): 3}, {"spam": policy}, {}, {}, Loader())
    described = describe_routes(plan.tables)["spam"]
    assert described["routes"] == [
        {"route": "canary", "version": 4, "percent": 10.0},
        {"route": "production", "version": 3, "percent": 90.0},
    ]
    assert described["revision"] == 0  # no event yet


def test_a_failed_load_keeps_the_table_served_before() -> None:
    loader = Loader()
    before = plan_routes({("spam", "production"): 3}, {}, {"spam": 1}, {}, loader).tables
    loader.broken = {5}
    plan = plan_routes(
        {("spam", "production"): 3}, {"spam": {"canary": 5, "canary_weight": 10}}, {"spam": 2}, before, loader
    )
    assert plan.tables["spam"] is before["spam"]
    assert plan.failures == {"spam/5": "IntegrityError: bad artifact"}
    assert plan.wanted == {"spam"}


def test_a_fresh_server_answers_with_production_alone_when_the_canary_fails() -> None:
    plan = plan_routes(
        {("spam", "production"): 3},
        {"spam": {"canary": 5, "canary_weight": 10}},
        {"spam": 2},
        {},
        Loader(broken={5}),
    )
    table = plan.tables["spam"]
    assert [(r.name, r.served.number) for r in table.routes] == [("production", 3)]
    assert table.policy.canary is None and table.revision == 2


def test_an_unchanged_snapshot_reuses_the_table_and_a_new_revision_only_relabels_it() -> None:
    loader = Loader()
    aliases = {("spam", "production"): 3}
    first = plan_routes(aliases, {"spam": {"shadow": 4}}, {"spam": 5}, {}, loader).tables
    again = plan_routes(aliases, {"spam": {"shadow": 4}}, {"spam": 5}, first, loader).tables
    assert again["spam"] is first["spam"]
    moved = plan_routes(aliases, {"spam": {"shadow": 4}}, {"spam": 6}, first, loader).tables["spam"]
    assert moved is not first["spam"] and moved.revision == 6
    assert moved.routes == first["spam"].routes and moved.shadow is loader.loaded[4]


def test_invalid_policy_and_canary_without_production_are_reported_not_served() -> None:
    plan = plan_routes(
        {},
        {"ham": {"canary": 2, "canary_weight": 5}, "eggs": {"canary": 2, "canary_weight": 0}},
        {},
        {},
        Loader(),
    )
    assert plan.tables == {}
    assert plan.wanted == {"ham", "eggs"}
    assert plan.failures["ham"] == "a canary is set but 'ham' has no production alias"
    assert plan.failures["eggs"].startswith("stored routing policy is invalid")


def test_a_hand_edited_policy_with_a_non_numeric_weight_is_reported_not_raised() -> None:
    policies = {"spam": {"canary": 7, "canary_weight": "ten"}, "ham": {"ab": [[1, "half"], [2, 50]]}}
    plan = plan_routes({}, policies, {}, {}, Loader())
    assert plan.tables == {}
    for name in ("spam", "ham"):
        assert plan.failures[name].startswith("stored routing policy is invalid")
        assert "non-numeric" in plan.failures[name]
