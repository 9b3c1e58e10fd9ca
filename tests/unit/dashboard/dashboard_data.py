"""What the dashboard's tests show: a project filled through the store (runs with metric steps, versions,
aliases, a canary, events), no model trained; names that hold a script among them."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from mlfactory.entities import PRODUCTION, Metric, RunStatus, VersionStatus
from mlfactory.project import Project

EVIL = "<script>alert(1)</script>"
RUNS = 30
MakeClient = Callable[..., TestClient]  # the fixture: a dashboard client over the project, server settings


def _version(
    project: Project, name: str, *, f1: float, status: VersionStatus = VersionStatus.READY, champion: str = ""
) -> int:
    v = project.metadata.create_model_version(
        name,
        status=status,
        run_id=None,
        artifact="0" * 64,
        flavor="skops",
        signature={
            "inputs": [{"name": "subject", "type": "text"}],
            "task": "classification",
            "label": "spam",
        },
        metrics={"f1": f1, "accuracy": f1 + 0.01},
        gates=[
            {"metric": "f1", "rule": "f1 >= 0.5", "value": f1, "passed": f1 >= 0.5, "detail": f"f1 = {f1}"}
        ],
        profile={},
        lineage={"dataset": "emails@1", "source": "emails", "champion": champion or None},
        card=f"# {name} v{{version}}\n\nA card by {EVIL}.",
        actor="test",
    )
    return v.version


def fill(project: Project) -> None:
    meta = project.metadata
    for i in range(RUNS):
        run = meta.create_run("spam", params={"C": i % 3, "note": "same"}, environment={"python": "3.11"})
        meta.log_metrics(run, [Metric("f1", 0.5 + i / 100, step) for step in range(3)])
        meta.log_metrics(run, [Metric("loss", 1.0 - i / 100, 0)])
        meta.end_run(run, RunStatus.FINISHED)
    evil = meta.create_run(EVIL, params={"C": EVIL})
    meta.end_run(evil, RunStatus.FAILED, error=EVIL)
    for f1 in (0.8, 0.85, 0.3):
        status = VersionStatus.READY if f1 >= 0.5 else VersionStatus.REJECTED
        _version(project, "spam", f1=f1, status=status, champion="spam/1" if f1 < 0.8 else "")
    meta.move_alias("spam", PRODUCTION, 1, kind="alias.set", actor="test", reason="first")
    project.deploy_canary("spam", 2, weight=20.0, reason=f"try v2 {EVIL}")
    _version(project, EVIL, f1=0.9)
    meta.move_alias(EVIL, PRODUCTION, 1, kind="alias.set", actor=EVIL, reason=EVIL)
    meta.add_event("test.evil", actor=EVIL, model=EVIL, payload={"note": f"</pre>{EVIL}"}, reason=EVIL)
    for i, share in enumerate((0.0, 0.2, 0.6)):
        column = {"column": EVIL, "kind": "numeric", "method": "psi", "statistic": 0.3 * i, "p_value": None}
        column |= {"effect_size": 0.1 * i, "drifted": share > 0.5}
        column["plot"] = {
            "labels": ["low", "high"],
            "reference": [0.5, 0.5],
            "current": [0.5 - i / 10, 0.5 + i / 10],
        }
        report = {"model": "spam", "version": 1, "route": "production", "rows": 100, "status": "ok"}
        report |= {
            "drift": {"share": share, "threshold": 0.5},
            "columns": [column],
            "findings": [f"finding {i}"],
        }
        metrics = {"drift.share": share, "performance.accuracy": 0.9 - i / 10, "estimated.accuracy": 0.88}
        meta.add_monitor_report(
            model="spam",
            version=1,
            route="production",
            window_start=None,
            window_end=None,
            rows=100,
            status="drift" if share > 0.5 else "ok",
            metrics=metrics,
            report=report,
            actor="test",
        )
    meta.add_event("monitor.alert", actor="monitor", model="spam", reason="drift share 0.6 over 0.5")
    for i in range(60):
        meta.add_event("test.tick", actor="tester" if i % 2 else "robot", model="spam", reason=f"tick {i}")
