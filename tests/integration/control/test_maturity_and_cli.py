"""`mlfactory status`, `events` and `controller pause|resume|status` from what a project actually did."""

import json
import os
import subprocess
import sys
from pathlib import Path

from mlfactory.control import assess
from project_helpers import make_project


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlfactory.cli.main", "--project", str(root), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_levels_follow_what_happened(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", rows=800)
    assert assess(project).level == 0
    first = project.train("spam")
    level1 = assess(project)
    assert level1.level == 1
    assert "a model has a production alias" in level1.missing
    assert "a version went live through a canary or an A/B split" in level1.missing
    project.promote("spam", first.version.version)
    second = project.train("spam")
    from mlfactory.serving import deploy_canary

    deploy_canary(project.metadata, "spam", second.version.version, weight=10, actor="ana")
    level2 = assess(project)
    assert level2.level == 2
    assert "a controller is running (`mlfactory controller run`, or `tick` from cron)" in level2.missing
    project.close()

    status = json.loads(cli(tmp_path / "p", "status", "--json").stdout)
    assert status["level"] == 2


def test_pause_resume_events_and_status(tmp_path: Path) -> None:
    make_project(tmp_path / "p", rows=800).close()
    assert cli(tmp_path / "p", "controller", "pause", "spam", "--reason", "holiday").returncode == 0
    status = json.loads(cli(tmp_path / "p", "controller", "status", "--json").stdout)
    assert [(r["model"], r["state"], r["paused"]) for r in status] == [("spam", "idle", True)]
    events = json.loads(cli(tmp_path / "p", "events", "--model", "spam", "--since", "1h", "--json").stdout)
    paused = [e for e in events if e["kind"] == "controller.paused"]
    assert len(paused) == 1 and paused[0]["reason"] == "holiday" and paused[0]["actor"]
    assert cli(tmp_path / "p", "controller", "resume", "spam").returncode == 0
    kinds = [e["kind"] for e in json.loads(cli(tmp_path / "p", "events", "--json").stdout)]
    assert kinds[-2:] == ["controller.paused", "controller.resumed"]
    bad = cli(tmp_path / "p", "events", "--since", "yesterday")
    assert bad.returncode == 2 and "not a duration" in bad.stderr
    unknown = cli(tmp_path / "p", "controller", "pause", "nope")
    assert unknown.returncode == 2 and "no model 'nope'" in unknown.stderr
