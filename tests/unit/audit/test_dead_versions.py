"""How a model's serving history is read from its alias and routing events, and which dead versions a live
version's lineage keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mlfactory.audit.dead import UNSERVED_VERSIONS, DeadVersion, _free_of_champions, _served
from mlfactory.entities import Event

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _event(i: int, kind: str, **payload: object) -> Event:
    return Event(i, T0 + timedelta(days=i), kind, "me", "spam", dict(payload), "")


def test_the_history_says_what_was_ever_served_and_when_each_version_stopped() -> None:
    events = [
        _event(1, "alias.set", alias="production", **{"from": None, "to": 1}),
        _event(2, "routing.set", to={"canary": 2, "canary_weight": 10.0, "ab": [], "shadow": None}),
        _event(3, "routing.cleared", to=None),
        _event(4, "alias.set", alias="production", **{"from": 1, "to": 3}),
        _event(5, "alias.set", alias="shadow", **{"from": None, "to": 3}),
        _event(6, "alias.removed", alias="shadow", **{"from": 3, "to": None}),
    ]
    served = _served(events, now_served={3})
    assert served.ever == {1, 2, 3}
    assert served.stopped == {
        2: T0 + timedelta(days=3),
        1: T0 + timedelta(days=4),
    }  # 3 still holds production
    assert _served([], now_served={7}).ever == {7}  # what serves now counts even without its events


def _dead(*numbers: int) -> dict[str, DeadVersion]:
    return {f"spam/{n}": DeadVersion("spam", n, UNSERVED_VERSIONS, "", T0) for n in numbers}


def test_a_champion_of_a_live_version_is_kept_and_so_is_its_own_champion() -> None:
    # spam/4 is live and was judged against spam/3, which was judged against spam/1; nothing names spam/2
    champions = {"spam/1": None, "spam/2": "spam/1", "spam/3": "spam/1", "spam/4": "spam/3"}
    assert _free_of_champions(_dead(1, 2, 3), champions) == ["spam/2"]


def test_dead_versions_naming_each_other_all_go() -> None:
    champions = {"spam/1": None, "spam/2": "spam/1", "spam/3": "spam/2", "spam/4": None}
    assert _free_of_champions(_dead(1, 2, 3), champions) == ["spam/1", "spam/2", "spam/3"]
