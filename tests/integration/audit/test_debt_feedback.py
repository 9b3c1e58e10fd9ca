"""Feedback loops and training paths found from the prediction log, the labels and a retrained version's
lineage: traffic is scored by the production version and logged as the server logs it, labelled through the
project, and trained on as the controller trains on it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from audit_helpers import label, retrain_on_feedback, serve_logged
from mlfactory.audit.debt import find_debt
from mlfactory.audit.model import Finding, Scope, Severity
from mlfactory.project import Project, open_project
from project_helpers import trained_project

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)  # the generated emails' clock; the log keeps real times


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    root = trained_project(tmp_path / "spam")
    with open_project(root, env={}, actor="test") as p:
        yield p


def _debt(project: Project) -> dict[str, list[Finding]]:
    found: dict[str, list[Finding]] = {}
    for f in find_debt(project, Scope(("spam",), datetime.now(UTC))):
        found.setdefault(f.check, []).append(f)
    return found


def test_labels_that_come_back_only_for_one_predicted_class_are_found(project: Project) -> None:
    ids, pred, truth = serve_logged(project, 1200)
    rng = np.random.default_rng(0)
    # every email the model flagged as spam is reviewed; a tenth of those it let through
    label(project, ids, truth, (pred == 1) | (rng.random(len(ids)) < 0.1), actor="reviewer")
    (finding,) = _debt(project)["feedback.label_rate_by_class"]
    assert finding.model == "spam" and finding.severity is Severity.MEDIUM
    rates = finding.evidence["by_prediction"]
    assert rates["1"] == {"rows": int((pred == 1).sum()), "labelled": int((pred == 1).sum())}
    assert rates["0"]["rows"] == int((pred == 0).sum())
    assert 0.05 < rates["0"]["labelled"] / rates["0"]["rows"] < 0.15
    assert finding.evidence["p_value"] < 0.01


def test_labels_sampled_alike_across_predicted_classes_are_no_finding(project: Project) -> None:
    ids, _, truth = serve_logged(project, 1200)
    label(project, ids, truth, np.random.default_rng(1).random(len(ids)) < 0.4, actor="reviewer")
    assert "feedback.label_rate_by_class" not in _debt(project)


def test_a_retrain_on_only_the_traffic_the_model_let_through_is_a_filtered_feedback_loop(
    project: Project,
) -> None:
    ids, pred, truth = serve_logged(project, 1200)
    label(project, ids, truth, pred == 0, actor="reviewer")  # only what reached the inbox gets a label
    number = retrain_on_feedback(project)
    found = _debt(project)

    (own,) = found["feedback.own_decisions"]
    version = project.metadata.get_model_version("spam", number)
    assert own.severity is Severity.LOW and own.evidence["version"] == f"spam/{number}"
    assert own.evidence["own_prediction_rows"] == version.lineage.feedback_rows > 0
    assert own.evidence["automatic_label_rows"] == 0
    assert own.evidence["own_share"] > 0.3

    (filtered,) = found["feedback.filtered_window"]
    assert set(filtered.evidence["labelled_by_prediction"]) == {"0"}
    assert filtered.evidence["traffic_by_prediction"] == {
        "0": int((pred == 0).sum()),
        "1": int((pred == 1).sum()),
    }

    (paths,) = found["pipeline.training_paths"]
    assert paths.evidence["recipes"] == {"source emails": [1], "source emails + labelled traffic": [number]}

    # the same labels, now sent by the quarantine's automatic sender: the model's own decisions as labels
    label(project, ids, pred, pred == 0, actor="auto:quarantine")
    (own,) = _debt(project)["feedback.own_decisions"]
    assert own.severity is Severity.HIGH
    assert own.evidence["automatic_label_rows"] == version.lineage.feedback_rows


def test_a_retrain_on_a_random_sample_of_labels_is_not_a_filtered_window(project: Project) -> None:
    ids, _, truth = serve_logged(project, 1200)
    label(project, ids, truth, np.random.default_rng(2).random(len(ids)) < 0.6, actor="reviewer")
    retrain_on_feedback(project)
    found = _debt(project)
    assert "feedback.filtered_window" not in found
    assert "feedback.label_rate_by_class" not in found
    assert found["feedback.own_decisions"][0].severity is Severity.LOW  # still a share of its own traffic


def test_a_version_trained_without_labelled_traffic_has_no_feedback_loop(project: Project) -> None:
    found = _debt(project)
    assert not {"feedback.own_decisions", "feedback.filtered_window", "pipeline.training_paths"} & set(found)
