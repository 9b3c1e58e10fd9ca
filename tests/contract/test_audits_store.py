"""Stored audits on every backend: each with its event, listed newest first by scope, read back whole."""

from __future__ import annotations

import pytest

from mlfactory.errors import NotFoundError
from mlfactory.stores import MetadataStore


def test_audits_are_stored_with_an_event_and_listed_newest_first_by_scope(metadata: MetadataStore) -> None:
    report = {"score": 2.5, "findings": [{"check": "data.unused_source", "evidence": {"source": "clicks"}}]}
    first = metadata.add_audit(models=["spam", "churn"], score=2.5, report=report, actor="ana")
    second = metadata.add_audit(models=["spam"], score=3.0, report={"score": 3.0}, actor="ana")
    third = metadata.add_audit(models=["churn", "spam"], score=4.0, report={"score": 4.0}, actor="ci")

    assert first.models == ("churn", "spam") and first.report is None and first.actor == "ana"
    assert [a.id for a in metadata.list_audits()] == [third.id, second.id, first.id]
    both = metadata.list_audits(["spam", "churn"])
    assert [(a.id, a.score) for a in both] == [(third.id, 4.0), (first.id, 2.5)]
    assert all(a.report is None for a in both)
    assert [a.id for a in metadata.list_audits(["spam"])] == [second.id]
    assert [a.id for a in metadata.list_audits(limit=1)] == [third.id]

    stored = metadata.get_audit(first.id)
    assert stored.report == report and stored.score == 2.5 and stored.created_at == first.created_at

    events = metadata.list_events(kinds=["audit.recorded"])
    assert [e.payload["audit"] for e in events] == [first.id, second.id, third.id]
    assert events[0].payload == {"audit": first.id, "models": ["churn", "spam"], "score": 2.5}


def test_an_unknown_audit_is_not_found(metadata: MetadataStore) -> None:
    with pytest.raises(NotFoundError, match="mlfactory audit --history"):
        metadata.get_audit("0" * 32)
