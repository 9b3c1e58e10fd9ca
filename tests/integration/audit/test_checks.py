"""The on-demand checks on a real trained spam project: each is a finished run the rubric reads back, none
registers a version or moves an alias, and a healthy seeded model passes the checks it should."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from mlfactory.audit.checks import CHECKS, run_checks
from mlfactory.audit.model import Scope
from mlfactory.audit.recorded import CHECK_TAG, latest_check
from mlfactory.entities import RunStatus
from mlfactory.errors import ConfigError
from mlfactory.project import Project, open_project
from mlfactory.stores.predictions import open_prediction_log
from mlfactory.training import split_frame
from project_helpers import set_model, trained_project

SCOPE = Scope(("spam",), datetime(2026, 6, 1, tzinfo=UTC))


def opened(root: Path) -> Project:
    return open_project(root, env={}, actor="test")


def test_an_unknown_check_is_refused_naming_the_known_ones_before_anything_runs(tmp_path: Path) -> None:
    with opened(trained_project(tmp_path / "spam")) as project:
        runs_before = len(project.metadata.list_runs())
        with pytest.raises(ConfigError) as err:
            run_checks(project, SCOPE, ["model.slices", "model.nonsense"])
        assert "model.nonsense" in str(err.value)
        assert all(check in str(err.value) for check in CHECKS)
        assert len(project.metadata.list_runs()) == runs_before


def test_each_check_is_a_finished_run_that_latest_check_returns_and_none_touches_the_registry(
    tmp_path: Path,
) -> None:
    with opened(trained_project(tmp_path / "spam")) as project:
        results = run_checks(project, SCOPE, list(CHECKS))
        assert [r.check for r in results] == list(CHECKS)
        for result in results:
            run = project.metadata.get_run(result.run_id)
            assert run.status == RunStatus.FINISHED
            assert run.tags[CHECK_TAG] == result.check
            assert run.params["version"] == "spam/1" and run.params["version.chosen"] == "production"
            latest = latest_check(project, result.check, "spam")
            assert latest is not None and latest.run_id == result.run_id
        assert [v.version for v in project.metadata.list_model_versions("spam")] == [1]
        assert project.metadata.get_aliases("spam") == {("spam", "production"): 1}
        passed = {r.check: r.passed for r in results}
        # the seeded quickstart model beats the majority class, trains to the same answers and replays
        assert (
            passed["model.simpler_baseline"]
            and passed["infra.reproducible"]
            and passed["infra.single_example"]
        )
        baseline = next(r for r in results if r.check == "model.simpler_baseline")
        assert (
            baseline.metrics["production.accuracy"]
            > baseline.metrics["baseline.DummyClassifier.accuracy"] + 0.1
        )


def test_without_production_the_newest_ready_version_is_judged_and_said_so(tmp_path: Path) -> None:
    with opened(trained_project(tmp_path / "spam", versions=2, production=None)) as project:
        [result] = run_checks(project, SCOPE, ["model.slices"])
        params = project.metadata.get_run(result.run_id).params
        assert params["version"] == "spam/2" and params["version.chosen"] == "newest ready"


def test_a_model_without_any_ready_version_is_skipped(tmp_path: Path) -> None:
    with opened(trained_project(tmp_path / "spam")) as project:
        assert run_checks(project, Scope(("other",), SCOPE.now), ["model.slices"]) == []


def _log_holdout_row(project: Project, *, flip: bool) -> str:
    """Answer one holdout email with production and log it as the server does (its answer flipped when
    ``flip``: a served answer the stored model cannot have given)."""
    version = project.registry.resolve("spam@production")
    model = project.registry.load(version)
    _, config = project.model_config("spam")
    frame = project.dataset("emails")
    from mlfactory.data.ingest import load_dataset

    holdout = split_frame(load_dataset(project.artifacts, frame), config)[1].iloc[:1]
    pred, proba = model.predict(holdout)
    if flip:
        pred, proba = 1 - pred, proba[:, ::-1]
    log = open_prediction_log(project.loaded)
    try:
        now = time.time()
        ids = log.ids.make(1, now=now)
        log.append(
            model="spam",
            version=version.version,
            route="production",
            time=now,
            latency_ms=2.0,
            request_ids=ids,
            batch=model.rows(holdout),
            predictions=pred,
            probabilities=proba,
        )
        log.flush()
    finally:
        log.close()
    return ids[0]


def test_single_example_replays_the_newest_logged_prediction_step_by_step(tmp_path: Path) -> None:
    with opened(trained_project(tmp_path / "spam")) as project:
        request = _log_holdout_row(project, flip=False)
        [result] = run_checks(project, SCOPE, ["infra.single_example"])
        trace = project.metadata.get_run(result.run_id).params["trace"]
        assert result.passed and trace["example"] == f"log request {request}"
        assert trace["input"]["sender_domain"] and [s["step"] for s in trace["steps"]] == ["preprocess"]
        parts = trace["steps"][0]["parts"]
        assert set(parts) == {"numeric", "categorical", "text_subject", "text_body"}
        assert parts["numeric"]["width"] == 3 and trace["steps"][0]["shape"][0] == 1
        assert np.isclose(sum(trace["probabilities"]), 1.0)

        tampered = _log_holdout_row(project, flip=True)
        [result] = run_checks(project, SCOPE, ["infra.single_example"])
        assert not result.passed
        [finding] = result.findings
        assert finding.evidence["example"] == f"log request {tampered}"
        assert finding.evidence["prediction"] != finding.evidence["logged_prediction"]


@pytest.mark.parametrize(
    ("params", "same"), [({"n_estimators": 5}, True), ({"n_estimators": 5, "random_state": None}, False)]
)
def test_reproducible_fails_only_for_an_estimator_left_unseeded(
    tmp_path: Path, params: dict[str, object], same: bool
) -> None:
    root = trained_project(tmp_path / "spam")
    set_model(root, estimator="sklearn.ensemble.RandomForestClassifier", params=params)
    with opened(root) as project:
        [result] = run_checks(project, SCOPE, ["infra.reproducible"])
    assert result.passed is same
    assert (result.metrics["rows_differing"] == 0) is same
    if not same:
        [finding] = result.findings
        assert finding.evidence["rows_differing"] == result.metrics["rows_differing"] > 0
        assert finding.evidence["holdout_rows"] == 240
