"""The audit end to end: one project seeded with each kind of debt the audit looks for, audited through the
real command with the checks that train, is found with the right evidence; the same project built without
the debt finds none of it and scores higher; ``--fail-under`` fails the command."""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from audit_helpers import age_project, label, retrain_on_feedback, serve_logged
from mlfactory.entities import RunStatus
from mlfactory.quickstart.world import SpamWorld
from project_helpers import cli_command, make_project

MONTHS = [datetime(2026, m, 1, tzinfo=UTC) for m in (1, 2, 3, 4)]
AGE = timedelta(days=60)  # how long ago everything stored happened, when the audit looks
CHECKS = "data.feature_importance,model.simpler_baseline,model.staleness"


@dataclass(frozen=True)
class Seed:
    """What one project carries: drift between its monthly snapshots and each kind of debt, on or off."""

    drifts: tuple[float, ...]
    debt: bool


def _months(seed: Seed) -> list[pd.DataFrame]:
    world = SpamWorld(3)
    spans = zip(MONTHS, MONTHS[1:], seed.drifts, strict=False)
    months = [world.emails(500, start=start, end=end, drift=drift) for start, end, drift in spans]
    return [_with_noise(m) for m in months] if seed.debt else months  # a feature of pure noise for the model


def _with_noise(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(noise=np.random.default_rng(6).normal(size=len(frame)))


def _project_file(seed: Seed) -> Callable[[Path], None]:
    def prepare(root: Path) -> None:
        _months(seed)[0].to_csv(root / "data" / "emails.csv", index=False)
        path = root / "mlfactory.yaml"
        config = yaml.safe_load(path.read_text())
        spam = config["models"]["spam"]
        spam["policy"]["triggers"]["schedule"] = "60d"
        if seed.debt:
            emails = config["sources"]["emails"]
            del emails["owner"], emails["description"]  # nobody answers for the model's data
            emails["columns"]["noise"] = {"type": "number"}
            spam["features"]["numeric"] = [*spam["features"]["numeric"], "noise"]
            (root / "data" / "clicks.csv").write_text("user,clicked\nu1,1\nu2,0\n")
            config["sources"]["clicks"] = {"kind": "csv", "path": "data/clicks.csv"}  # read by nothing
            weak = {k: copy.deepcopy(v) for k, v in spam.items() if k not in ("policy", "search")}
            weak["params"] = {"C": 1e-6, "max_iter": 2000}  # regularised into the majority class
            weak["gates"] = [{"metric": "accuracy", "min": 0.5}]
            config["models"]["spam_weak"] = weak
        path.write_text(yaml.safe_dump(config, sort_keys=False))

    return prepare


def build(root: Path, seed: Seed) -> tuple[Path, str | None]:
    """The project of ``seed``: three monthly snapshots, spam trained and promoted, traffic labelled and
    trained on, an experiment left unregistered (with debt), all of it two months old. Returns the root and
    the experiment's run id."""
    months = _months(seed)
    with make_project(root, prepare=_project_file(seed)) as project:
        for i in range(2, len(months) + 1):
            pd.concat(months[:i]).to_csv(root / "data" / "emails.csv", index=False)
            project.ingest("emails")
        project.train("spam")
        project.promote("spam", 1, reason="first model")
        ids, pred, truth = serve_logged(project, 600, extra=_with_noise if seed.debt else None)
        if seed.debt:  # only what the model let through reaches a person who can label it
            label(project, ids, truth, pred == 0, actor="reviewer")
            project.train("spam_weak")
            project.promote("spam_weak", 1, reason="cheaper", force=True)  # past its gate
        else:  # people label a random half
            label(project, ids, truth, np.arange(len(ids)) % 2 == 0, actor="reviewer")
        retrain_on_feedback(project)
        experiment = None
        if seed.debt:
            experiment = project.metadata.create_run("spam", params={"C": 0.1}, tags={"model": "spam"})
            project.metadata.end_run(experiment, RunStatus.FINISHED)
        age_project(project, AGE)
    return root, experiment


def audit(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli_command(root, "audit", *args), capture_output=True, text=True, timeout=900)


def by_check(report: dict[str, Any]) -> dict[tuple[str, str | None], dict[str, Any]]:
    return {(f["check"], f["model"]): f for f in report["findings"]}


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict[str, Any], str | None, Path]]:
    """Both projects audited with the checks that train: {"debt": (report, experiment, root), "clean": …}."""
    out = {}
    for name, seed in {"debt": Seed((0.0, 0.5, 1.0), True), "clean": Seed((0.0, 0.0, 0.0), False)}.items():
        root, experiment = build(tmp_path_factory.mktemp(name) / "spam", seed)
        done = audit(root, "--run", CHECKS, "--json")
        assert done.returncode == 0, done.stderr
        out[name] = (json.loads(done.stdout), experiment, root)
    return out


def test_every_kind_of_seeded_debt_is_found_with_its_evidence(reports: dict[str, Any]) -> None:
    report, experiment, _ = reports["debt"]
    found = by_check(report)
    assert found[("data.owner_missing", None)]["evidence"]["source"] == "emails"
    assert found[("data.unused_source", None)]["evidence"]["source"] == "clicks"
    filtered = found[("feedback.filtered_window", "spam")]["evidence"]  # labels for what it let through
    assert set(filtered["labelled_by_prediction"]) == {"0"}
    assert set(filtered["traffic_by_prediction"]) == {"0", "1"}
    dead = found[("dead.unregistered_runs", "spam")]
    assert dead["evidence"]["runs"] == 1 and dead["evidence"]["first_ids"] == [experiment]
    stale = found[("model.stale", "spam")]["evidence"]
    assert stale["horizon_days"] < stale["age_days"] and stale["age_days"] >= AGE.days - 1
    useless = [f for f in report["findings"] if f["check"] == "data.feature_importance"]
    assert "noise" in {f["evidence"]["feature"] for f in useless if f["model"] == "spam"}
    beaten = found[("model.simpler_baseline", "spam_weak")]
    assert beaten["severity"] == "high"
    # (spam/2 may lose to the majority class too: its holdout holds the filtered labels, nearly all one class)
    assert report["checks_run"] == CHECKS.split(",")


def test_without_the_debt_none_of_it_is_found_and_the_score_is_higher(reports: dict[str, Any]) -> None:
    debt, _, _ = reports["debt"]
    clean, _, _ = reports["clean"]
    checks = {check for check, _ in by_check(clean)}
    for seeded in (
        "data.owner_missing",
        "data.unused_source",
        "feedback.own_decisions",
        "feedback.filtered_window",
        "dead.unregistered_runs",
        "model.stale",
        "model.simpler_baseline",
    ):
        assert seeded not in checks, by_check(clean)
    assert "noise" not in json.dumps(clean["findings"])
    assert clean["score"] > debt["score"], (clean["sections"], debt["sections"])
    for section in ("data", "model"):
        assert clean["sections"][section] > debt["sections"][section]
    statuses = {(r, t["id"]): t["status"] for r, rep in (("d", debt), ("c", clean)) for t in rep["tests"]}
    assert statuses[("d", "model.5")] == "missing" and statuses[("c", "model.5")] == "manual"
    assert statuses[("d", "monitoring.4")] == "missing"


def test_fail_under_fails_the_command_with_exit_13_and_the_report_is_kept(reports: dict[str, Any]) -> None:
    report, _, root = reports["debt"]
    failed = audit(root, "--fail-under", "7", "--html", str(root / "audit.html"))
    assert failed.returncode == 13, failed.stderr
    assert "under --fail-under 7" in failed.stderr and "weakest section" in failed.stderr
    assert "ML Test Score" in (root / "audit.html").read_text()
    passed = audit(root, "--fail-under", str(report["score"]))
    assert passed.returncode == 0, passed.stderr
    history = json.loads(audit(root, "--history", "--json").stdout)
    assert len(history) == 3 and history[-1]["id"] == report["id"]  # newest first: the first one is last
