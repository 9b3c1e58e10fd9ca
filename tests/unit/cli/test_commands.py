"""The commands over a fake Project: each calls its Project method, prints what it got, and its errors leave
with the exit code of their class (mapped once, in ``main``). No project folder, no model."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest.mock import ANY, MagicMock, create_autospec

import pytest
from typer.testing import CliRunner

import mlfactory.project
from mlfactory.cli.main import app, main
from mlfactory.entities import GateResult, MonitorReportRecord
from mlfactory.errors import ConflictError, NotFoundError
from mlfactory.project import Project
from mlfactory.serving import FeedbackResult

ROUTING = {
    "model": "spam",
    "aliases": {"production": 1},
    "policy": {"key": None},
    "traffic_percent": {"v1": 75.0, "v2": 25.0},
    "shadow": None,
}


@pytest.fixture
def project(monkeypatch: pytest.MonkeyPatch) -> Iterator[MagicMock]:
    """The Project every command opens: an autospec'd mock, so unknown methods or arguments fail."""
    fake = create_autospec(Project, instance=True)
    fake.config = SimpleNamespace(monitoring=SimpleNamespace(window=900.0))
    fake.routing.return_value = ROUTING
    monkeypatch.setattr(mlfactory.project, "open_project", lambda root: fake)
    yield fake


def run(*args: str) -> Any:
    """The command's result through typer's runner (output captured, exceptions kept)."""
    return CliRunner().invoke(app, list(args), catch_exceptions=True)


def exit_of(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str]:
    """The exit code and standard error of ``mlfactory ARGS`` as the installed command runs it."""
    monkeypatch.setattr(sys, "argv", ["mlfactory", *args])
    with pytest.raises(SystemExit) as done:
        main()
    return int(done.value.code or 0), capsys.readouterr().err


def record(report_id: str) -> MonitorReportRecord:
    return MonitorReportRecord(
        id=report_id,
        model="spam",
        version=1,
        route="production",
        created_at=datetime(2026, 1, 1, 12, tzinfo=UTC),
        window_start=None,
        window_end=None,
        rows=500,
        status="ok",
        metrics={"drift.share": 0.25},
        report={"full": "payload"},
    )


# -- deploy --------------------------------------------------------------------------------------------------


def test_deploy_canary_calls_the_project_and_shows_the_new_shares(project: MagicMock) -> None:
    done = run("deploy", "canary", "spam", "2", "--weight", "25", "--reason", "try it")
    assert done.exit_code == 0, done.output
    project.deploy_canary.assert_called_once_with(
        "spam", 2, weight=25.0, key=None, reason="try it", force=False
    )
    assert "spam: v1 75%, v2 25%" in done.output


def test_deploy_ab_shadow_clear_call_their_project_methods(project: MagicMock) -> None:
    assert run("deploy", "ab", "spam", "--variants", "6:50,7:50", "--key", "user_id").exit_code == 0
    project.deploy_ab.assert_called_once_with("spam", "6:50,7:50", key="user_id", reason="", force=False)
    assert run("deploy", "shadow", "spam", "3").exit_code == 0
    project.deploy_shadow.assert_called_with("spam", 3, reason="")
    assert run("deploy", "shadow", "spam", "--off").exit_code == 0
    project.deploy_shadow.assert_called_with("spam", None, reason="")
    assert run("deploy", "clear", "spam", "--reason", "over").exit_code == 0
    project.deploy_clear.assert_called_once_with("spam", reason="over")


def test_deploy_status_json_is_the_projects_routing(project: MagicMock) -> None:
    done = run("deploy", "status", "spam", "--json")
    assert done.exit_code == 0
    assert json.loads(done.output) == ROUTING


def test_deploy_errors_leave_with_their_exit_codes(
    project: MagicMock, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert exit_of(monkeypatch, capsys, "deploy", "shadow", "spam")[0] == 2  # neither VERSION nor --off
    project.deploy_shadow.assert_not_called()
    project.deploy_clear.side_effect = NotFoundError("model 'spam' has no routing policy to clear")
    code, err = exit_of(monkeypatch, capsys, "deploy", "clear", "spam")
    assert code == 4
    assert "error: model 'spam' has no routing policy to clear" in err
    project.deploy_canary.side_effect = ConflictError("spam/2 was rejected by its gates")
    assert exit_of(monkeypatch, capsys, "deploy", "canary", "spam", "2")[0] == 5


# -- feedback ------------------------------------------------------------------------------------------------


def test_feedback_sends_the_file_and_lists_unknown_ids(
    project: MagicMock, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    labels = tmp_path / "labels.csv"
    project.feedback.return_value = FeedbackResult(2)
    done = run("feedback", str(labels), "--source", "reviewers", "--json")
    assert done.exit_code == 0
    assert json.loads(done.output) == {
        "accepted": 2,
        "unknown": [],
        "unknown_count": 0,
        "invalid": [],
        "invalid_count": 0,
    }
    project.feedback.assert_called_once_with(labels, actor="reviewers")
    project.feedback.return_value = FeedbackResult(1, ["r9"])
    code, err = exit_of(monkeypatch, capsys, "feedback", str(labels))
    assert code == 4
    assert "1 request id(s) are not in the prediction log" in err and "r9" in err
    assert project.feedback.call_args.kwargs == {"actor": None}


# -- monitor -------------------------------------------------------------------------------------------------


def test_monitor_run_checks_the_default_window_of_every_model(project: MagicMock) -> None:
    report = MagicMock()
    report.to_dict.return_value = {"model": "spam", "version": 1}
    project.monitor.return_value = [report]
    done = run("monitor", "run", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.output) == [{"model": "spam", "version": 1}]
    project.monitor.assert_called_once_with(None, seconds=900.0, last=None, version=None, route=None)
    run("monitor", "run", "--model", "spam", "--last", "300", "--json")
    project.monitor.assert_called_with("spam", seconds=None, last=300, version=None, route=None)
    run("monitor", "run", "--window", "2h", "--json")
    assert project.monitor.call_args.kwargs["seconds"] == 7200.0


def test_monitor_run_refuses_a_window_and_a_row_count_together(
    project: MagicMock, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = exit_of(monkeypatch, capsys, "monitor", "run", "--window", "1h", "--last", "10")
    assert code == 2 and "not both" in err
    assert exit_of(monkeypatch, capsys, "monitor", "run", "--window", "soon")[0] == 2
    project.monitor.assert_not_called()


def test_monitor_history_json_is_the_stored_summaries(project: MagicMock) -> None:
    project.monitor_history.return_value = [record("r1"), record("r2")]
    done = run("monitor", "history", "spam", "--limit", "5", "--json")
    assert done.exit_code == 0
    rows = json.loads(done.output)
    assert [r["id"] for r in rows] == ["r1", "r2"]
    assert "report" not in rows[0]  # a history is summaries; the full report is `monitor report`
    assert rows[0]["metrics"] == {"drift.share": 0.25}
    assert rows[0]["created_at"] == "2026-01-01T12:00:00+00:00"
    project.monitor_history.assert_called_once_with("spam", version=None, route=None, limit=5)


def test_monitor_report_resolves_an_id_prefix(
    project: MagicMock, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    report = MagicMock()
    report.to_dict.return_value = {"id": "abc123"}
    project.monitor_report.return_value = report
    project.monitor_reports.return_value = [record("abc123"), record("abd456")]
    assert run("monitor", "report", "spam", "--id", "abc", "--json").exit_code == 0
    project.monitor_report.assert_called_once_with("spam", "abc123")
    code, err = exit_of(monkeypatch, capsys, "monitor", "report", "spam", "--id", "ab")
    assert code == 2 and "starts 2 report ids" in err


# -- runs and train ------------------------------------------------------------------------------------------


def test_runs_show_and_compare_call_the_project(project: MagicMock) -> None:
    project.run.return_value = {"id": "abc"}
    assert json.loads(run("runs", "show", "abc", "--json").output) == {"id": "abc"}
    project.run.assert_called_once_with("abc")
    first, second = SimpleNamespace(id="r1"), SimpleNamespace(id="r2")
    project.compare_runs.return_value = ([first, second], {"params.C": {"r1": 1, "r2": 2}})
    assert json.loads(run("runs", "compare", "r1", "r2", "--json").output) == {"params.C": {"r1": 1, "r2": 2}}
    project.compare_runs.assert_called_once_with(["r1", "r2"])


def test_a_rejected_training_prints_its_gates_and_exits_6(
    project: MagicMock, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    gate = GateResult(metric="f1", rule="f1 >= 0.9", value=0.5, passed=False, detail="f1 = 0.5000")
    version = SimpleNamespace(ref="spam/3", name="spam", version=3, status=SimpleNamespace(value="rejected"))
    project.train.return_value = SimpleNamespace(
        run_id="r" * 32, version=version, metrics={"f1": 0.5}, gates=(gate,), passed=False
    )
    code, err = exit_of(monkeypatch, capsys, "train", "--json")
    assert code == 6 and "spam/3 is registered as rejected: f1 = 0.5000" in err
    project.train.assert_called_once_with(None, dataset=None, allow_invalid=False)


def test_train_json_shape(project: MagicMock) -> None:
    gate = GateResult(metric="f1", rule="f1 >= 0.5", value=0.8, passed=True, detail="f1 = 0.8000")
    version = SimpleNamespace(ref="spam/1", name="spam", version=1, status=SimpleNamespace(value="ready"))
    project.train.return_value = SimpleNamespace(
        run_id="r1", version=version, metrics={"f1": 0.8}, gates=(gate,), passed=True
    )
    done = run("train", "spam", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.output) == {
        "run": "r1",
        "version": "spam/1",
        "status": "ready",
        "metrics": {"f1": 0.8},
        "gates": [
            {"metric": "f1", "rule": "f1 >= 0.5", "value": 0.8, "passed": True, "detail": "f1 = 0.8000"}
        ],
    }


# -- one Project method per command --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "method", "call", "returned"),
    [
        (["datasets", "list", "--json"], "datasets", ((None,), {}), []),
        (["datasets", "show", "emails@2", "--json"], "dataset", (("emails@2",), {}), {"id": "d2"}),
        (
            ["runs", "list", "--limit", "3", "--json"],
            "runs",
            ((), {"where": None, "name": None, "status": None, "limit": 3, "archived": False}),
            [],
        ),
        (
            ["runs", "list", "--archived", "--json"],
            "runs",
            ((), {"where": None, "name": None, "status": None, "limit": 50, "archived": True}),
            [],
        ),
        (["tokens", "list", "--json"], "tokens", ((), {}), []),
        (["tokens", "create", "ana", "--role", "viewer"], "create_token", (("ana", "viewer"), {}), "s3cret"),
        (
            ["tokens", "revoke", "ana", "--reason", "left"],
            "revoke_token",
            (("ana",), {"reason": "left"}),
            None,
        ),
        (
            ["predict", "--model", "spam", "--input", "in.csv", "--output", "out.parquet"],
            "predict_file",
            (
                ("spam", "in.csv", "out.parquet"),
                {"on_bad_rows": "report", "batch_rows": 65_536, "progress": ANY},
            ),
            {"rows": 2, "model": "spam/1", "output": "out.parquet", "rows_in": 2, "bad_rows": 0}
            | {"rejected": None, "seconds": 0.1},
        ),
    ],
)
def test_each_command_calls_its_project_method(
    project: MagicMock,
    args: list[str],
    method: str,
    call: tuple[tuple[Any, ...], dict[str, Any]],
    returned: Any,
) -> None:
    getattr(project, method).return_value = returned
    done = run(*args)
    assert done.exit_code == 0, done.output
    getattr(project, method).assert_called_once_with(*call[0], **call[1])
    if "--json" in args:
        assert json.loads(done.output) == returned


def test_verify_exits_7_on_findings(
    project: MagicMock, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    finding = SimpleNamespace(kind="artifact", subject="abc", detail="hash differs")
    project.verify.return_value = SimpleNamespace(
        ok=False, checked={"artifacts": 3}, findings=[finding], to_dict=lambda: {"ok": False}
    )
    code, err = exit_of(monkeypatch, capsys, "verify")
    assert code == 7 and "verify found 1 problem(s)" in err
    project.verify.return_value = SimpleNamespace(ok=True, checked={"artifacts": 3}, findings=[])
    assert "checked 3 artifacts" in run("verify").output
