"""`mlfactory log compact` and `mlfactory log prune` on a project's log."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
from typer.testing import CliRunner

from log_helpers import log_request
from mlfactory.cli.main import app
from mlfactory.errors import ConfigError
from mlfactory.inputs import Batch
from mlfactory.project import open_project
from mlfactory.stores.predictions import FIXED_TYPES, open_prediction_log
from mlfactory.stores.predictions.layout import day_dir, model_dir, segment_name


def _project(root: Path, retention: str | None) -> None:
    root.mkdir()
    extra = f", retention: {retention}" if retention else ""
    (root / "mlfactory.yaml").write_text(f"name: demo\nserver:\n  prediction_log: {{path: preds{extra}}}\n")


def test_compact_and_prune_commands(tmp_path: Path) -> None:
    root = tmp_path / "p"
    _project(root, "30d")
    with open_project(root, env={}) as project:
        log = open_prediction_log(project.loaded)
        ids = []
        for n in (2, 3, 4):
            ids += log_request(log, Batch(["x"], matrix=np.ones((n, 1))), np.zeros(n), model="spam")
            log.flush()
        old = date(2020, 1, 1)
        stamp = datetime(2020, 1, 1, 12, tzinfo=UTC)
        table = pa.table(
            {"request_id": ["old"], "time": pa.array([stamp], FIXED_TYPES["time"]), "model": ["spam"]}
        )
        log.tree.put_table(log.tree.path(model_dir("spam"), day_dir(old)), segment_name(0, "t", 0), table)

    runner = CliRunner()
    young = runner.invoke(app, ["--project", str(root), "log", "compact", "--older-than", "1h"])
    assert young.exit_code == 0, young.output
    assert "nothing to merge" in young.output
    done = runner.invoke(app, ["--project", str(root), "log", "compact", "--model", "spam"])
    assert done.exit_code == 0, done.output
    assert "3 files merged" in done.output and "(9 rows)" in done.output
    pruned = runner.invoke(app, ["--project", str(root), "log", "prune"])
    assert pruned.exit_code == 0, pruned.output
    assert "spam 2020-01-01: removed" in pruned.output and "1 days removed (1 files)" in pruned.output
    with open_project(root, env={}) as project:
        assert sorted(project.predictions.query(model="spam")["request_id"]) == sorted(ids)
        assert len(project.predictions.files("spam")) == 1
    bad = runner.invoke(app, ["--project", str(root), "log", "compact", "--older-than", "soon"])
    assert isinstance(bad.exception, ConfigError) and "--older-than: 'soon'" in str(bad.exception)


def test_prune_without_retention_says_how_to_set_it(tmp_path: Path) -> None:
    root = tmp_path / "p"
    _project(root, None)
    result = CliRunner().invoke(app, ["--project", str(root), "log", "prune"])
    assert isinstance(result.exception, ConfigError)  # main() prints it and exits with its code
    assert "server.prediction_log.retention is not set" in str(result.exception)
