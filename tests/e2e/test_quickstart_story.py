"""The quickstart tells the whole story by itself: the controller retrains on a changed world, promotes the
challenger through a canary, then catches a broken challenger in its canary and rolls it back."""

import io
from pathlib import Path

from rich.console import Console

from mlfactory.control import assess
from mlfactory.project import open_project
from mlfactory.quickstart import run_quickstart


def test_quickstart_closes_the_loop(tmp_path: Path) -> None:
    out = io.StringIO()
    result = run_quickstart(tmp_path / "qs", seed=7, console=Console(file=out, width=160))
    assert result["production"] == "spam/2"
    with open_project(tmp_path / "qs", env={}) as project:
        events = [e for e in project.metadata.list_events(model="spam") if e.kind.startswith("rollout.")]
        assert [e.kind for e in events] == [
            "rollout.retraining",
            "rollout.gated",
            "rollout.canary",
            "rollout.promoted",
            "rollout.idle",
            "rollout.retraining",
            "rollout.gated",
            "rollout.canary",
            "rollout.rolled_back",
            "rollout.idle",
        ]
        first, _, _, promoted, guard, second, gated, _, rolled_back, _ = events
        assert "realized accuracy" in first.reason and first.payload["triggers"][0]["kind"] == "performance"
        assert promoted.payload["decision"] == "promote" and "accuracy" in promoted.reason
        assert "guard window passed" in guard.reason
        assert "new dataset version" in second.reason
        assert gated.payload["challenger"] == 3
        assert "canary regressed: accuracy" in rolled_back.reason
        check = next(c for c in rolled_back.payload["checks"] if c["metric"] == "accuracy")
        assert check["status"] == "regressed" and check["p_value"] < 0.001
        assert all(e.actor.startswith("controller:") for e in events)
        assert [v.status.value for v in project.metadata.list_model_versions("spam")] == ["ready"] * 3
        maturity = assess(project)
        assert maturity.level == 3 and maturity.missing == []
    text = out.getvalue()
    assert "timeline" in text and "rolled_back" in text
    # its last chapter: the project's audit, stored (the dashboard's Audit page shows it)
    with open_project(tmp_path / "qs", env={}) as project:
        [audit] = project.audits()
        assert audit.score == result["audit_score"] and audit.models == ("spam",)
        report = project.audit_record(audit.id).report
        assert report is not None and len(report["tests"]) == 28
    # the loop it ran is evidence: canaries and a rollback by the controller, gates before serving
    statuses = {t["id"]: t["status"] for t in report["tests"]}
    assert statuses["infrastructure.6"] == statuses["infrastructure.7"] == "automated"
    assert statuses["infrastructure.4"] == "automated"
    assert f"ML Test Score {audit.score:.1f} / 7" in text
