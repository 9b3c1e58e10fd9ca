"""`train` with a search block: trials on the training part (nested runs), the winner fitted, gated and
registered, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from mlfactory.cli.main import app
from mlfactory.entities import RunStatus
from mlfactory.project.train import prepare
from project_helpers import make_project

SEARCH = """    split: {strategy: time}
    search:
      trials: 6
      metric: f1
      space:
        C: {choice: [-1.0, 0.5, 4.0]}
        class_weight: {choice: [null, balanced]}
"""


def with_search(root: Path) -> None:
    """The quickstart model with a small search, one of whose values (a negative C) the estimator refuses."""
    y = root / "mlfactory.yaml"
    text, found = re.subn(r"^    split: \{strategy: time\}.*\n", SEARCH, y.read_text(), flags=re.M)
    assert found == 1, "the quickstart project file no longer splits by time"
    y.write_text(text)


@pytest.mark.timeout(300)
def test_search_registers_the_winner_fitted_on_the_training_part(tmp_path: Path, metadata_url: str) -> None:
    with make_project(tmp_path / "p", rows=600, metadata_url=metadata_url, prepare=with_search) as project:
        result = project.train("spam")
        run = project.run(result.run_id)
        trials = {int(t.tags["search.trial"]): t for t in project.runs(where=f"tags.parent_run = {run.id}")}
        assert sorted(trials) == list(range(6))  # every trial a run nested under the search's
        failed = [t for t in trials.values() if t.tags["search.state"] == "failed"]
        complete = [t for t in trials.values() if t.tags["search.state"] == "complete"]
        assert failed and complete and len(failed) + len(complete) == 6
        assert all(
            t.params["C"] == -1.0 and t.status is RunStatus.FAILED and "'C'" in (t.error or "")
            for t in failed
        )
        for t in complete:  # each fold's score by step; the trial's score is their mean
            folds = [m.value for m in project.metric_history(t.id, "fold.f1")]
            assert len(folds) == 3 and t.metrics["f1"] == pytest.approx(np.mean(folds))
        best = max(complete, key=lambda t: t.metrics["f1"])
        assert run.tags["search.best_trial"] == best.tags["search.trial"]
        assert run.metrics["search.best.f1"] == pytest.approx(best.metrics["f1"])
        assert run.metrics["search.failed"] == len(failed)

        # the registered version is the winner, fitted on the whole training part and gated as ever
        version = result.version
        assert version.run_id == run.id and version.lineage.run == run.id and result.gates
        fitted = project.registry.load(version).estimator.named_steps["model"].get_params()
        assert {k: fitted[k] for k in best.params} == best.params == {k: run.params[k] for k in best.params}
        assert fitted["max_iter"] == 2000  # the params the search did not touch stay as declared

        # the trials saw the training part, every row of it, and not one row of the holdout
        p = prepare(project, "spam", dataset=None, allow_invalid=False, feedback=None, max_rows=None)
        staged = pq.read_table(
            io.BytesIO(project.artifacts.get_bytes(run.artifacts["search_rows"]))
        ).to_pandas()
        assert run.params["search.rows"] == len(staged) == len(p.train) == version.lineage.train_rows
        assert set(staged["message_id"]) == set(p.train["message_id"])
        assert not set(staged["message_id"]) & set(p.holdout["message_id"])

        shown = CliRunner().invoke(
            app,
            ["--project", str(project.root), "runs", "show", run.id],
            env={"MLFACTORY_STORES__METADATA": metadata_url},
            terminal_width=100,
        )
        assert shown.exit_code == 0, shown.output
        winner = f"winner: trial {best.tags['search.trial']}, f1 {best.metrics['f1']:.4f}"
        assert "trials (f1" in shown.output and winner in shown.output
        assert shown.output.count("failed") >= len(failed) and "C=-1.0" in shown.output
