"""The Project's entrance methods over an in-memory metadata store: routing, models, events, the controller
switch, monitoring reports and feedback. Versions are registered straight into the store, so no model is
trained and nothing is read from disk but the project file."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mlfactory.entities import VersionStatus
from mlfactory.errors import ConfigError, ConflictError, NotFoundError
from mlfactory.project import Project, open_project

PROJECT_FILE = """
name: unit
stores:
  metadata: "memory://{store}"
sources:
  s: {{kind: csv, path: data.csv}}
models:
  spam:
    source: s
    label: y
    features: {{numeric: [a]}}
    policy: {{}}
  other:
    source: s
    label: y
    features: {{numeric: [a]}}
"""


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    (tmp_path / "mlfactory.yaml").write_text(PROJECT_FILE.format(store=uuid.uuid4().hex))
    with open_project(tmp_path, env={}, actor="ana") as opened:
        yield opened


def register(project: Project, name: str, *, rejected: bool = False) -> int:
    mv = project.metadata.create_model_version(
        name,
        status=VersionStatus.REJECTED if rejected else VersionStatus.READY,
        run_id=None,
        artifact="0" * 64,
        flavor="skops",
        signature={"label": "y", "label_type": "integer", "classes": [0, 1]},
        metrics={},
        gates=[],
        profile={},
        lineage={},
        card="",
    )
    return mv.version


@pytest.fixture
def spam(project: Project) -> Project:
    """``spam`` with versions 1, 2 (ready) and 3 (rejected), version 1 in production."""
    for rejected in (False, False, True):
        register(project, "spam", rejected=rejected)
    project.promote("spam", 1, reason="first")
    return project


def test_canary_shares_and_the_rules_it_keeps(spam: Project) -> None:
    event = spam.deploy_canary("spam", 2, weight=20, reason="try")
    assert (event.kind, event.actor, event.reason) == ("routing.set", "ana", "try")
    assert spam.routing("spam")["traffic_percent"] == {"v1": 80.0, "v2": 20.0}
    with pytest.raises(ConflictError, match="rejected"):
        spam.deploy_canary("spam", 3, weight=5)
    assert spam.deploy_canary("spam", 3, weight=5, force=True, actor="ops").actor == "ops"
    with pytest.raises(ConflictError, match="canary"):
        spam.deploy_ab("spam", "1:50,2:50", key="user")


def test_ab_from_text_shadow_and_clear(spam: Project) -> None:
    spam.deploy_ab("spam", "1:30,2:70", key="user")
    spam.deploy_shadow("spam", 3)  # a rejected version may shadow
    status = spam.routing("spam")
    assert status["traffic_percent"] == {"v1": 30.0, "v2": 70.0}
    assert (status["shadow"], status["policy"]["key"]) == (3, "user")
    spam.deploy_clear("spam", reason="done")
    assert spam.routing("spam")["traffic_percent"] == {"v1": 100.0}
    with pytest.raises(NotFoundError, match="no routing policy"):
        spam.deploy_clear("spam")
    with pytest.raises(ConfigError):
        spam.deploy_ab("spam", "1:30;2", key="user")
    with pytest.raises(NotFoundError):
        spam.routing("nope")


def test_models_versions_aliases_and_history(spam: Project) -> None:
    assert spam.model_names() == ["spam"]
    assert [v.version for v in spam.versions("spam")] == [1, 2, 3]
    assert spam.aliases("spam") == {"production": 1}
    assert spam.version("spam").version == 1
    assert spam.version("spam/2").version == 2
    assert [e.kind for e in spam.history("spam")] == ["model.registered"] * 3 + ["alias.set"]
    with pytest.raises(NotFoundError):
        spam.versions("nope")


def test_events_filter_by_model_kind_and_time(spam: Project) -> None:
    register(spam, "other")
    spam.deploy_canary("spam", 2, weight=10)
    kinds = [e.kind for e in spam.events(model="spam")]
    assert kinds[-2:] == ["alias.set", "routing.set"]
    assert [e.kind for e in spam.events(kinds=["routing.set"])] == ["routing.set"]
    assert {e.model for e in spam.events(kinds=["model.registered"])} == {"spam", "other"}
    assert len(spam.events(limit=2)) == 2
    assert spam.events(since=datetime(2999, 1, 1, tzinfo=UTC)) == []


def test_pause_and_resume_the_managed_models(project: Project) -> None:
    assert project.managed_models() == ["spam"]  # `other` declares no policy
    assert [(e.kind, e.model) for e in project.pause(reason="holiday")] == [("controller.paused", "spam")]
    assert project.rollout("spam").paused
    assert not project.rollout("other").paused
    project.resume("spam")
    assert not project.rollout("spam").paused
    project.pause("other")  # declared without a policy: may still be paused explicitly
    assert project.rollout("other").paused
    with pytest.raises(ConfigError, match="no model 'nope'"):
        project.pause("nope")


def report(project: Project, version: int, route: str, drift: float) -> str:
    return project.metadata.add_monitor_report(
        model="spam",
        version=version,
        route=route,
        window_start=None,
        window_end=None,
        rows=100,
        status="ok",
        metrics={"drift.share": drift},
        report={"version": version, "route": route, "drift": drift},
        actor="test",
    )


def test_stored_reports_history_and_the_newest_per_route(spam: Project) -> None:
    first = report(spam, 1, "production", 0.1)
    canary = report(spam, 2, "canary", 0.2)
    newest = report(spam, 1, "production", 0.3)
    assert [r.id for r in spam.monitor_history("spam")] == [first, canary, newest]
    assert [r.id for r in spam.monitor_history("spam", route="canary")] == [canary]
    assert [r.id for r in spam.monitor_history("spam", limit=1)] == [newest]
    latest = spam.latest_monitor_reports("spam")
    assert {(r["version"], r["route"], r["drift"]) for r in latest} == {
        (1, "production", 0.3),
        (2, "canary", 0.2),
    }
    assert next(r for r in latest if r["route"] == "production")["id"] == newest
    with pytest.raises(NotFoundError):
        spam.monitor_history("nope")
    assert spam.monitor_reports("nope") == []


class NoRows:
    """A prediction log with no segment: what monitoring sees before any traffic."""

    def files(self, model: str | None = None, since: object = None, until: object = None) -> list[Path]:
        return []


def test_monitoring_an_empty_window_reports_why_and_stores_only_when_asked(spam: Project) -> None:
    reports = spam.monitor("spam", seconds=3600, store=False, log=NoRows())
    assert [(r.version, r.status) for r in reports] == [(1, "empty")]
    assert "no rows of spam" in reports[0].messages[0]
    assert spam.monitor_history("spam") == []
    spam.monitor(log=NoRows())  # every declared model with versions, stored
    assert [r.status for r in spam.monitor_history("spam")] == ["empty"]


class KnownIds:
    """The prediction log as feedback sees it: which request ids it answered, for which model."""

    def __init__(self, known: dict[str, str]) -> None:
        self.known = known

    def known_request_ids(self, request_ids: Sequence[str]) -> dict[str, str]:
        return {r: self.known[r] for r in request_ids if r in self.known}


def test_feedback_stores_known_ids_and_reports_the_others(spam: Project) -> None:
    log = KnownIds({"a": "spam", "b": "spam"})
    result = spam.feedback([("a", 1), ("b", 0), ("zz", 1)], log=log)  # type: ignore[arg-type]
    assert (result.accepted, result.unknown) == (2, ["zz"])
    result = spam.feedback([("a", 1)], actor="auto-labeller", log=log)  # type: ignore[arg-type]
    assert result.accepted == 1
