"""Debt planted in the spam project's data or model is found by the check built for it, with its numbers,
and the same project without it is not accused."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from audit_helpers import edit_model, with_noise
from mlfactory.audit.checks import run_checks
from mlfactory.audit.model import Scope, Severity
from mlfactory.audit.recorded import CheckResult
from mlfactory.project import open_project
from project_helpers import trained_project

SCOPE = Scope(("spam",), datetime(2026, 6, 1, tzinfo=UTC))


def _emails(root: Path) -> pd.DataFrame:
    return pd.read_csv(root / "data" / "emails.csv")


def weak_model(root: Path) -> None:
    """A model regularised into predicting the majority class (its gate lowered so it is registered)."""
    edit_model(root, {"params": {"C": 1e-6, "max_iter": 2000}, "gates": [{"metric": "accuracy", "min": 0.5}]})


def bad_german(root: Path) -> None:
    """Half the German emails' labels flipped at random: the model cannot learn that slice."""
    emails = _emails(root)
    german = (emails["language"] == "de").to_numpy() & (np.random.default_rng(11).random(len(emails)) < 0.5)
    emails.loc[german, "is_spam"] = 1 - emails.loc[german, "is_spam"]
    emails.to_csv(root / "data" / "emails.csv", index=False)
    edit_model(root, {"gates": [{"metric": "accuracy", "min": 0.5}]})


def check(root: Path, check_id: str) -> CheckResult:
    with open_project(root, env={}, actor="test") as project:
        [result] = run_checks(project, SCOPE, [check_id])
    return result


def test_a_random_noise_feature_is_named_as_adding_nothing(tmp_path: Path) -> None:
    result = check(
        trained_project(tmp_path / "noisy", prepare=with_noise, variant="noise"), "data.feature_importance"
    )
    assert not result.passed
    [noise] = [f for f in result.findings if f.evidence["feature"] == "noise"]
    mean, std = noise.evidence["importance_mean"], noise.evidence["importance_std"]
    assert mean - 2 * std <= 0 and noise.evidence["metric"] == "accuracy"
    assert "features.numeric" in noise.fix and noise.severity is Severity.MEDIUM
    assert result.metrics["importance.noise"] == mean
    named = {f.evidence["feature"] for f in result.findings}
    assert "sender_domain" not in named and "body" not in named  # what the model relies on stays

    clean = check(trained_project(tmp_path / "clean"), "data.feature_importance")
    assert "importance.noise" not in clean.metrics
    assert clean.metrics["importance.sender_domain"] > 0.1


def test_a_model_no_better_than_the_majority_class_is_caught(tmp_path: Path) -> None:
    result = check(
        trained_project(tmp_path / "weak", prepare=weak_model, variant="weak"), "model.simpler_baseline"
    )
    assert not result.passed
    [finding] = [f for f in result.findings if f.evidence["baseline"] == "sklearn.dummy.DummyClassifier"]
    assert finding.severity is Severity.HIGH and finding.evidence["metric"] == "accuracy"
    assert (
        finding.evidence["baseline_value"]
        >= finding.evidence["production_value"] - finding.evidence["tolerance"]
    )
    assert finding.evidence["production_value"] == result.metrics["production.accuracy"]


def test_a_declared_baseline_is_trained_and_compared_too(tmp_path: Path) -> None:
    root = trained_project(tmp_path / "spam")
    edit_model(root, {"baselines": ["sklearn.naive_bayes.BernoulliNB"]})
    result = check(root, "model.simpler_baseline")
    assert (
        "baseline.BernoulliNB.accuracy" in result.metrics
        and "baseline.DummyClassifier.accuracy" in result.metrics
    )


def test_a_planted_bad_segment_is_named_with_its_size_and_metric(tmp_path: Path) -> None:
    root = trained_project(tmp_path / "german", rows=2000, prepare=bad_german, variant="bad-german")
    result = check(root, "model.slices")
    assert not result.passed
    [finding] = [f for f in result.findings if f.evidence["segment"] == "language=de"]
    assert finding.evidence["rows"] >= 30
    assert (
        finding.evidence["overall"] - finding.evidence["value"] > 0.05
        and finding.evidence["metric"] == "accuracy"
    )
    assert result.metrics["slice.language=de.accuracy"] == finding.evidence["value"]

    clean = check(trained_project(tmp_path / "clean", rows=2000, variant="clean-2000"), "model.slices")
    assert not [f for f in clean.findings if f.evidence["segment"] == "language=de"]
