"""The rubric over real spam projects: what an ingested-only project lacks, what training with gates, a
canary and a rollback, recorded checks, monitoring reports and the prediction log each turn on."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from mlfactory.audit.model import Finding, Scope, Section, Severity, Status, TestOutcome
from mlfactory.audit.recorded import CheckOutcome, record_check
from mlfactory.audit.rubric import score_rubric
from mlfactory.inputs import Batch
from mlfactory.project import Project, open_project
from mlfactory.quickstart.world import SpamWorld
from mlfactory.stores.predictions import open_prediction_log
from project_helpers import make_project, set_model, trained_project


def rubric(project: Project, *models: str) -> dict[str, TestOutcome]:
    outcomes = score_rubric(project, Scope(models or ("spam",), datetime.now(UTC)))
    return {o.id: o for o in outcomes}


@pytest.fixture
def trained(tmp_path: Path) -> Iterator[Project]:
    """Two versions of spam on the same data, version 1 in production."""
    root = trained_project(tmp_path / "spam", versions=2, production=1)
    with open_project(root, env={}, actor="test") as project:
        yield project


def test_an_ingested_only_project_lacks_most_tests(tmp_path: Path) -> None:
    with make_project(tmp_path / "spam", rows=300) as project:
        outcomes = score_rubric(project, Scope(("spam",), datetime.now(UTC)))
        by_id = {o.id: o for o in outcomes}
    assert len(outcomes) == 28
    assert [o.id for o in outcomes[:7]] == [f"data.{i}" for i in range(1, 8)]
    assert [o.id for o in outcomes[-7:]] == [f"monitoring.{i}" for i in range(1, 8)]
    assert {s: sum(o.section == s for o in outcomes) for s in Section} == dict.fromkeys(Section, 7)
    missing = {o.id for o in outcomes if o.status is Status.MISSING}
    assert len(missing) >= 14
    for test in ("model.1", "model.2", "model.5", "infrastructure.3", "infrastructure.6", "infrastructure.7"):
        assert test in missing and by_id[test].fix, test
    assert "has no registered version" in by_id["model.1"].evidence
    # the quickstart declares its source's columns: the schema is captured and enforced at ingest
    assert (
        by_id["data.1"].status is Status.AUTOMATED
        and "10 columns of source 'emails'" in by_id["data.1"].evidence
    )
    # what no store can hold stays undecided, saying what would decide it
    for test in ("data.3", "data.5", "model.7", "infrastructure.2"):
        assert by_id[test].status is Status.UNDECIDED and by_id[test].decided_by, test


def test_a_project_without_a_declared_schema_misses_the_schema_tests(tmp_path: Path) -> None:
    def undeclare(root: Path) -> None:
        import yaml

        config = yaml.safe_load((root / "mlfactory.yaml").read_text())
        del config["sources"]["emails"]["columns"]
        (root / "mlfactory.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    with make_project(tmp_path / "spam", rows=300, prepare=undeclare) as project:
        by_id = rubric(project)
    assert by_id["data.1"].status is Status.MISSING
    assert "inferred schema" in by_id["data.1"].evidence and "sources.emails.columns" in by_id["data.1"].fix
    assert by_id["monitoring.1"].status is Status.MISSING


def test_training_with_gates_and_a_promotion_turns_the_training_tests_on(trained: Project) -> None:
    by_id = rubric(trained)
    gates = by_id["infrastructure.4"]
    assert gates.status is Status.AUTOMATED and gates.fix == ""
    assert "2 gates declared; spam/1 passed 2 of 2 (accuracy >= 0.9" in gates.evidence
    pipeline = by_id["infrastructure.3"]
    version = trained.metadata.get_model_version("spam", 1)
    assert pipeline.status is Status.MANUAL and version.lineage.dataset in pipeline.evidence
    assert "models.spam.policy" in pipeline.fix
    slices = by_id["model.6"]
    assert slices.status is Status.MANUAL and "worst slice language=" in slices.evidence
    assert by_id["monitoring.4"].evidence.startswith("spam/1 is 0.0 days old")
    # nothing canaried, rolled back, monitored or logged yet
    assert by_id["infrastructure.6"].status is Status.MISSING
    assert by_id["infrastructure.7"].status is Status.MISSING
    assert by_id["monitoring.7"].status is Status.MISSING
    assert by_id["monitoring.5"].status is Status.UNDECIDED


def test_a_canary_and_a_rollback_are_automated_with_the_rollback_timed(trained: Project) -> None:
    trained.deploy_canary("spam", 2, weight=25, reason="try v2")
    live = trained.promote("spam", 2, reason="canary looked fine")
    back = trained.rollback("spam", reason="complaints")
    by_id = rubric(trained)
    canary = by_id["infrastructure.6"]
    assert canary.status is Status.AUTOMATED
    assert "newest: spam/2 at 25%" in canary.evidence and "policy canaries" in canary.evidence
    rolled = by_id["infrastructure.7"]
    took = (back.time - live.time).total_seconds()
    shown = f"{took * 1000:.0f} ms" if took < 1 else f"{took:.1f} s"
    assert rolled.status is Status.AUTOMATED
    assert f"event {back.id} (alias.rollback) by test" in rolled.evidence
    assert f"moved production from v2 back to v1 in one atomic step, {shown} after v2 went live" in (
        rolled.evidence
    )


def test_a_canary_the_controller_rolled_back_is_timed_from_its_start(trained: Project) -> None:
    start = trained.deploy_canary("spam", 2, weight=30, reason="challenger")
    # what the controller's canary step records when the analysis says roll back (its routes cleared first)
    trained.deploy_clear("spam", reason="controller: rollback")
    ended = trained.metadata.add_event(
        "rollout.rolled_back", actor="controller:host-1", model="spam", reason="canary error rate regressed"
    )
    rolled = rubric(trained)["infrastructure.7"]
    took = (ended.time - start.time).total_seconds()
    shown = f"{took * 1000:.0f} ms" if took < 1 else f"{took:.1f} s"
    assert rolled.status is Status.AUTOMATED
    assert "(rollout.rolled_back) by controller:host-1" in rolled.evidence
    assert f"took canary v2 off traffic while production kept the champion, {shown} after v2 went live" in (
        rolled.evidence
    )


def test_a_canary_by_hand_without_a_policy_is_manual(tmp_path: Path) -> None:
    root = trained_project(tmp_path / "spam", versions=2, production=1)
    set_model(root, policy=None)
    with open_project(root, env={}, actor="test") as project:
        project.deploy_canary("spam", 2, weight=10)
        by_id = rubric(project)
    assert by_id["infrastructure.6"].status is Status.MANUAL
    assert "started by hand, no controller policy" in by_id["infrastructure.6"].evidence


def test_recorded_checks_decide_their_tests(trained: Project) -> None:
    useless = Finding(
        check="data.feature_importance",
        severity=Severity.MEDIUM,
        title="feature 'hour_sent' adds nothing on the holdout",
        evidence={"feature": "hour_sent", "importance": 0.0},
        why="it costs upkeep for no gain",
        fix="drop hour_sent from models.spam.features",
        model="spam",
    )
    record_check(
        trained,
        "data.feature_importance",
        "spam",
        lambda run: CheckOutcome(False, {"useless_features": 1.0}, (useless,)),
    )
    passed = record_check(
        trained, "model.simpler_baseline", "spam", lambda run: CheckOutcome(True, {"baseline_accuracy": 0.6})
    )
    by_id = rubric(trained)
    assert by_id["data.2"].status is Status.MISSING
    assert "failed: feature 'hour_sent' adds nothing on the holdout" in by_id["data.2"].evidence
    simpler = by_id["model.5"]
    assert simpler.status is Status.MANUAL and passed.run_id[:8] in simpler.evidence
    assert "baseline_accuracy=0.6" in simpler.evidence
    assert by_id["infrastructure.1"].status is Status.MISSING  # never ran


def test_a_measured_staleness_horizon_judges_the_served_versions_age(trained: Project) -> None:
    before = rubric(trained)["monitoring.4"]
    assert (
        before.status is Status.MANUAL and "no horizon known" in before.evidence
    )  # the policy has no schedule
    check = record_check(
        trained,
        "model.staleness",
        "spam",
        lambda run: CheckOutcome(True, {"decay_per_day": 0.5, "horizon_days": 1e-9, "points": 4.0}),
    )
    by_id = rubric(trained)
    assert by_id["model.4"].status is Status.MANUAL and "horizon_days=1e-09" in by_id["model.4"].evidence
    stale = by_id["monitoring.4"]
    assert stale.status is Status.MISSING
    assert (
        f"horizon 0.0 days from measured staleness horizon (run {check.run_id[:8]}): too stale"
        in stale.evidence
    )
    assert stale.fix.startswith("mlfactory train spam, then promote")


def _report(project: Project, version: int, accuracy: float, actor: str = "test") -> str:
    now = datetime.now(UTC)
    return project.metadata.add_monitor_report(
        model="spam",
        version=version,
        route="production",
        window_start=now,
        window_end=now,
        rows=500,
        status="ok",
        metrics={"performance.accuracy": accuracy, "performance.labelled_rows": 400, "drift.share": 0.0},
        report={},
        actor=actor,
    )


def test_monitoring_reports_decide_online_quality(trained: Project) -> None:
    holdout = trained.metadata.get_model_version("spam", 1).metrics["accuracy"]
    report = _report(trained, 1, holdout - 0.01)
    by_id = rubric(trained)
    assert by_id["model.2"].status is Status.MANUAL and "within 5% of each other" in by_id["model.2"].evidence
    assert by_id["monitoring.7"].status is Status.MANUAL and report[:8] in by_id["monitoring.7"].evidence
    assert by_id["monitoring.2"].status is Status.MANUAL  # a report by a person, not the controller

    _report(trained, 1, holdout - 0.2, actor="controller:host-1")
    by_id = rubric(trained)
    assert by_id["monitoring.7"].status is Status.MISSING and "worse" in by_id["monitoring.7"].evidence
    assert by_id["model.2"].status is Status.MISSING and "more than 5% apart" in by_id["model.2"].evidence
    assert by_id["monitoring.2"].status is Status.AUTOMATED


def _log(project: Project, version: int, n: int, latency: float, *, nan_at: int | None = None) -> list[str]:
    """Score ``n`` generated emails with ``version`` and log them like the server does."""
    model = project.registry.load(project.metadata.get_model_version("spam", version))
    frame = SpamWorld(5).emails(
        n, start=datetime(2026, 5, 1, tzinfo=UTC), end=datetime(2026, 5, 2, tzinfo=UTC)
    )
    rows = model.rows(frame)
    pred, proba = model.predict(frame)
    proba = np.array(proba, dtype=float)
    if nan_at is not None:
        proba[nan_at, 0] = np.nan
    plog = open_prediction_log(project.loaded)
    ids = plog.ids.make(n)
    plog.append(
        model="spam",
        version=version,
        route="production",
        time=time.time(),
        latency_ms=latency,
        request_ids=ids,
        batch=Batch(list(rows.names), columns=dict(rows.columns)),
        predictions=pred,
        probabilities=proba,
    )
    plog.flush()
    plog.close()
    return ids


def test_nan_in_logged_probabilities_is_found(trained: Project) -> None:
    _log(trained, 1, 200, 2.0)
    clean = rubric(trained)["monitoring.5"]
    assert clean.status is Status.AUTOMATED and "none of the newest 200 logged rows" in clean.evidence
    ids = _log(trained, 1, 100, 2.0, nan_at=7)
    found = rubric(trained)["monitoring.5"]
    assert found.status is Status.MISSING
    assert "1 of the newest 300 logged rows hold NaN or infinity (probabilities: 1)" in found.evidence
    assert f"e.g. request {ids[7]}" in found.evidence and ids[7] in found.fix


def test_a_latency_regression_between_versions_is_named(trained: Project) -> None:
    _log(trained, 1, 150, 2.0)
    _log(trained, 2, 150, 2.2)  # 10% slower: within what a regression allows
    calm = rubric(trained)["monitoring.6"]
    assert calm.status is Status.MANUAL
    assert calm.evidence.startswith(
        "v2: p50 2.2 ms, p99 2.2 ms; v1: p50 2 ms, p99 2 ms; measured by this audit"
    )
    _log(trained, 2, 150, 5.0)  # half of v2's rows now take 5 ms
    speed = rubric(trained)["monitoring.6"]
    assert speed.status is Status.MISSING
    assert (
        "p99 5 ms; v1: p50 2 ms, p99 2 ms: p99 latency rose 150% from the previous version" in speed.evidence
    )


def test_several_models_are_automated_only_when_all_are(trained: Project) -> None:
    by_id = rubric(trained, "spam", "ghost")
    gates = by_id["infrastructure.4"]
    assert gates.status is Status.MISSING
    assert gates.evidence.startswith("not automated for ghost (missing); spam: 2 gates declared")
    assert "models.ghost.gates" in gates.fix
