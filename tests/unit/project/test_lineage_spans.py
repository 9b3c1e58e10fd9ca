"""The stretches an alias pointed at a version, read from a model's alias moves: set, moved away, set again,
rolled back to, removed; spans that started before the moves read; and the params digest runs are
compared by."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from mlfactory.entities import Event
from mlfactory.project.lineage import alias_spans, params_digest
from mlfactory.project.lineage_records import AliasSpan

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def _move(i: int, kind: str, alias: str, frm: int | None, to: int | None, actor: str = "ops") -> Event:
    payload: dict[str, Any] = {"alias": alias, "from": frm, "to": to}
    return Event(i, T0 + timedelta(hours=i), kind, actor, "spam", payload, "")


def test_spans_follow_sets_moves_rollbacks_and_removals() -> None:
    moves = [
        _move(1, "alias.set", "production", 1, 3, actor="alice"),
        _move(2, "alias.set", "canary", None, 4),  # another version: not in v3's spans
        _move(3, "alias.set", "production", 3, 4, actor="bob"),
        _move(4, "alias.rollback", "production", 4, 3, actor="controller"),
        _move(5, "alias.set", "staging", None, 3),
        _move(6, "alias.removed", "staging", 3, None),
    ]
    assert alias_spans(moves, 3) == [
        AliasSpan("production", T0 + timedelta(hours=1), T0 + timedelta(hours=3), "alice"),
        AliasSpan("staging", T0 + timedelta(hours=5), T0 + timedelta(hours=6), "ops"),
        AliasSpan("production", T0 + timedelta(hours=4), None, "controller"),
    ]
    assert alias_spans(moves, 4) == [
        AliasSpan("production", T0 + timedelta(hours=3), T0 + timedelta(hours=4), "bob"),
        AliasSpan("canary", T0 + timedelta(hours=2), None, "ops"),
    ]
    assert alias_spans(moves, 9) == []


def test_a_span_begun_before_the_moves_read_starts_unknown() -> None:
    moves = [_move(7, "alias.set", "production", 2, 5)]
    assert alias_spans(moves, 2) == [AliasSpan("production", None, T0 + timedelta(hours=7), "")]


def test_setting_an_alias_to_the_version_it_holds_keeps_one_span() -> None:
    moves = [_move(1, "alias.set", "production", None, 2), _move(2, "alias.set", "production", 2, 2)]
    assert alias_spans(moves, 2) == [AliasSpan("production", T0 + timedelta(hours=1), None, "ops")]


def test_params_digest_ignores_key_order_and_tells_values_apart() -> None:
    assert params_digest({"C": 1.0, "penalty": "l2"}) == params_digest({"penalty": "l2", "C": 1.0})
    assert params_digest({"C": 1.0}) != params_digest({"C": 2.0})
    assert len(params_digest({"when": T0})) == 64  # values JSON cannot hold count by their text
