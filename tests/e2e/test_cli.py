"""The command line as a user runs it: real processes, exit codes and one-line errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mlfactory.errors import ConfigError, GateFailedError, IntegrityError, NotFoundError, ValidationError
from project_helpers import trained_project


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "mlfactory.cli.main", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=full_env,
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli") / "proj"
    done = cli("init", str(root), cwd=root.parent)
    assert done.returncode == 0, done.stderr
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `init`, `ingest` and `train` make (the whole loop test runs those commands themselves)."""
    root = tmp_path_factory.mktemp("cli") / "trained"
    return trained_project(root, rows=6000, feature_service=True, production=None)


def test_the_whole_foundation_loop(project: Path) -> None:
    ingest = cli("ingest", "emails", cwd=project)
    assert ingest.returncode == 0, ingest.stderr
    assert "new version emails-" in ingest.stdout
    again = cli("ingest", "emails", cwd=project)
    assert "unchanged" in again.stdout

    train = cli("train", "--json", cwd=project)
    assert train.returncode == 0, train.stderr
    trained = json.loads(train.stdout)
    assert trained["version"] == "spam/1" and trained["status"] == "ready"

    runs = json.loads(cli("runs", "list", "--json", "--where", "metrics.accuracy > 0.5", cwd=project).stdout)
    assert [r["id"] for r in runs] == [trained["run"]]
    show = cli("runs", "show", trained["run"][:8], cwd=project)
    assert "fit_seconds" in show.stdout and "project file" in show.stdout

    promote = cli("models", "promote", "spam", "1", "--alias", "production", "--reason", "first", cwd=project)
    assert promote.returncode == 0 and "v1" in promote.stdout
    assert cli("train", cwd=project).returncode == 0
    assert cli("models", "promote", "spam", "2", cwd=project).returncode == 0
    compare = cli(
        "runs",
        "compare",
        *[r["id"] for r in json.loads(cli("runs", "list", "--json", cwd=project).stdout)],
        cwd=project,
    )
    assert "metrics.accuracy" in compare.stdout

    listing = json.loads(cli("models", "list", "--json", cwd=project).stdout)
    assert listing == [{"name": "spam", "versions": 2, "latest": 2, "aliases": {"production": 2}}]
    rollback = cli("models", "rollback", "spam", "--reason", "regression", cwd=project)
    assert rollback.returncode == 0 and "v2 → v1" in rollback.stdout
    history = json.loads(cli("models", "history", "spam", "--json", cwd=project).stdout)
    assert [h["kind"] for h in history] == [
        "model.registered",
        "alias.set",
        "model.registered",
        "alias.set",
        "alias.rollback",
    ]
    assert history[-1]["reason"] == "regression"
    card = cli("models", "show", "spam@production", "--card", cwd=project)
    assert "# Model card: spam v1" in card.stdout

    out = project / "scored.parquet"
    predict = cli(
        "predict",
        "--model",
        "spam@production",
        "--input",
        "data/emails.csv",
        "--output",
        str(out),
        cwd=project,
    )
    assert predict.returncode == 0, predict.stderr
    assert pd.read_parquet(out)["model_version"].unique().tolist() == ["spam/1"]

    config = json.loads(
        cli("config", "show", "--json", cwd=project, env={"MLFACTORY_SERVER__PORT": "8123"}).stdout
    )
    origins = {row["key"]: (row["value"], row["origin"]) for row in config}
    assert origins["server.port"] == ("8123", "env")
    assert origins["models.spam.label"] == ('"is_spam"', "file")
    assert origins["server.host"] == ('"127.0.0.1"', "default")


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (["ingest", "orders"], NotFoundError, "unknown source 'orders' (sources: emails)"),
        (["models", "show", "nope/1"], NotFoundError, "no model named 'nope'"),
        (["models", "promote", "spam", "99"], NotFoundError, "no version 99"),
        (
            ["predict", "--model", "spam@canary", "--input", "data/emails.csv", "--output", "x.parquet"],
            NotFoundError,
            "no alias 'canary'",
        ),
        (["runs", "show", "zzzz"], NotFoundError, "no run 'zzzz'"),
    ],
)
def test_unknown_things_get_one_line_and_exit_code(
    trained: Path, args: list[str], error: type, message: str
) -> None:
    done = cli(*args, cwd=trained)
    assert done.returncode == error.exit_code, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2


def test_typo_in_project_file(tmp_path: Path) -> None:
    (tmp_path / "mlfactory.yaml").write_text("name: x\nsourcez: {}\n")
    done = cli("config", "show", cwd=tmp_path)
    assert done.returncode == ConfigError.exit_code
    assert "sourcez: unknown field" in done.stderr and "Traceback" not in done.stderr


def test_bad_data_fails_ingest_and_blocks_train(tmp_path: Path) -> None:
    root = tmp_path / "p"
    assert cli("init", str(root), cwd=tmp_path).returncode == 0
    frame = pd.read_csv(root / "data" / "emails.csv")
    frame["surprise"] = 1
    frame["n_links"] = frame["n_links"].astype(float)
    frame.loc[0, "n_links"] = float("inf")
    frame.drop(columns=["hour_sent"]).to_csv(root / "data" / "emails.csv", index=False)
    ingest = cli("ingest", "emails", cwd=root)
    assert ingest.returncode == ValidationError.exit_code
    for word in ("hour_sent", "surprise", "n_links"):
        assert word in ingest.stderr
    train = cli("train", cwd=root)
    assert train.returncode == ValidationError.exit_code and "--allow-invalid" in train.stderr
    assert cli("models", "list", "--json", cwd=root).stdout.strip() == "[]"


def test_failing_gate_exits_non_zero_but_records(tmp_path: Path) -> None:
    root = tmp_path / "p"
    cli("init", str(root), cwd=tmp_path)
    path = root / "mlfactory.yaml"
    path.write_text(path.read_text().replace("min: 0.90", "min: 0.9999"))
    cli("ingest", "emails", cwd=root)
    train = cli("train", cwd=root)
    assert train.returncode == GateFailedError.exit_code
    assert "registered as rejected" in train.stderr
    versions = json.loads(cli("models", "show", "spam", "--json", cwd=root).stdout)
    assert [v["status"] for v in versions] == ["rejected"]


def test_corrupted_artifact_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "p"
    cli("init", str(root), cwd=tmp_path)
    cli("ingest", "emails", cwd=root)
    trained = json.loads(cli("train", "--json", cwd=root).stdout)
    cli("models", "promote", "spam", "1", cwd=root)
    digest = json.loads(cli("runs", "show", trained["run"], "--json", cwd=root).stdout)["artifacts"]["model"]
    blob = root / ".mlfactory" / "artifacts" / digest[:2] / digest[2:]
    blob.write_bytes(b"not the model")
    done = cli("predict", "--model", "spam", "--input", "data/emails.csv", "--output", "o.parquet", cwd=root)
    assert done.returncode == IntegrityError.exit_code
    assert digest[:12] in done.stderr and "modified" in done.stderr
    assert not (root / "o.parquet").exists()


def test_sql_source_that_cannot_connect(tmp_path: Path) -> None:
    (tmp_path / "mlfactory.yaml").write_text(
        "name: x\nsources:\n  db:\n    kind: sql\n    query: select 1\n"
        "    url: postgresql+psycopg://user:hunter2@127.0.0.1:1/nope\n"
    )
    done = cli("ingest", "db", cwd=tmp_path)
    assert done.returncode == 8, done.stderr
    assert "127.0.0.1:1" in done.stderr and "hunter2" not in done.stderr


def _store_monitor_reports(root: Path) -> None:
    """Two stored monitoring reports of spam/1, with long notes and many drifted columns, as `monitor run`
    writes them."""
    from datetime import UTC, datetime, timedelta

    from mlfactory.monitoring.drift import ColumnDrift
    from mlfactory.monitoring.report import MonitorReport
    from mlfactory.project import open_project

    names = [f"feature_with_a_long_name_{i}" for i in range(9)]
    note = "45 null value(s) in the window were left out; the reference had none, check the upstream join"
    columns = [
        ColumnDrift(
            column=n,
            kind="numeric",
            method="ks",
            statistic=0.31,
            p_value=1e-9,
            effect_size=0.6,
            drifted=True,
            messages=[note],
        )
        for n in names
    ]
    end = datetime.now(UTC)
    with open_project(root) as project:
        for status, rows in (("ok", 800), ("insufficient", 85)):
            report = MonitorReport(
                model="spam",
                version=1,
                route="production",
                window={"label": "last 800 rows"},
                rows=rows,
                status=status,
                columns=columns,
                messages=["the window is older than the newest version"],
                alerts=[{"rule": "accuracy-drop", "state": "fired"}, {"rule": "drift", "state": "fired"}],
                metrics={
                    "drift.share": 0.5714,
                    "performance.accuracy": 0.7163,
                    "performance.labelled_rows": 215,
                    "estimated.accuracy": 0.9505,
                    "health.latency_p95_ms": 32.1791,
                    "drift.prediction": 1.0,
                },
            )
            project.metadata.add_monitor_report(
                model="spam",
                version=1,
                route="production",
                window_start=end - timedelta(hours=1),
                window_end=end,
                rows=rows,
                status=status,
                metrics=report.metrics,
                report=report.to_dict(),
                actor="test",
            )


def test_every_table_is_readable_at_80_columns(trained: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "narrow"
    shutil.copytree(trained, root)
    _store_monitor_reports(root)
    assert (
        cli(
            "models", "promote", "spam", "1", "--reason", "a reason long enough to wrap " * 4, cwd=root
        ).returncode
        == 0
    )
    run_id = json.loads(cli("runs", "list", "--json", cwd=root).stdout)[0]["id"]
    commands = [
        ["runs", "list"],
        ["runs", "show", run_id[:8]],
        ["runs", "compare", run_id[:8], run_id[:8]],
        ["models", "list"],
        ["models", "show", "spam"],
        ["models", "show", "spam/1"],
        ["models", "history", "spam"],
        ["datasets", "list"],
        ["datasets", "show", "emails"],
        ["events"],
        ["controller", "status"],
        ["deploy", "status", "spam"],
        ["config", "show"],
        ["monitor", "history", "spam"],
        ["monitor", "report", "spam"],
    ]
    for args in commands:
        done = cli(*args, cwd=root, env={"COLUMNS": "80"})
        assert done.returncode == 0, (args, done.stderr)
        lines = done.stdout.splitlines()
        assert "…" not in done.stdout, (args, done.stdout)
        assert max(len(line) for line in lines) <= 80, (args, done.stdout)
    history = cli("monitor", "history", "spam", cwd=root, env={"COLUMNS": "80"}).stdout
    assert history.splitlines()[1].split() == [
        "time",
        "report",
        "v",
        "route",
        "rows",
        "drift",
        "acc.",
        "est.",
        "p95",
    ]
    assert "status: insufficient" in history and "est.: accuracy estimated" in " ".join(history.split())
    report_id = history.splitlines()[3].split()[2]
    report = cli("monitor", "report", "spam", "--id", report_id, cwd=root, env={"COLUMNS": "80"}).stdout
    for header in ("drifted columns", "accuracy (labelled)", "estimated acc.", "p95 ms", "alerts"):
        assert header in report
    assert "and 3 more" in " ".join(report.split()) and "notes: 45 null value(s)" in report
    config = cli("config", "show", cwd=root, env={"COLUMNS": "80"}).stdout
    lines = config.splitlines()  # too narrow for whole keys: each group of keys under its prefix
    group = lines.index("sources.emails.columns.sender_domain")
    assert lines[group + 1].split() == ["type", '"category"', "file"]
