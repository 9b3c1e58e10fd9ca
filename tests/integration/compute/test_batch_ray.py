"""Batch scoring on Ray Data against scoring on this machine: the same files, row for row, the same refused
rows and the same errors, nothing staged or half-written left behind, and a worker killed in the middle of a
file survived by Ray's retries.

The same-answers tests run both ways (conftest.py's ``ray_executor``): on a ``ray start --head`` cluster
reached by ``compute: ray://…``, then on a Ray in this process (``compute: ray``); each project opened with
that URL in ``MLFACTORY_COMPUTE`` joins the module's connection and leaves it open. The tests that kill
workers by their process title run on the in-process Ray only.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from mlfactory.compute import RayExecutor
from mlfactory.errors import ComputeError, ValidationError
from mlfactory.project import Project, open_project
from mlfactory.project import batch as local_batch
from mlfactory.project.batch_ray import RayScoring, score_on_ray
from mlfactory.registry import Registry
from project_helpers import trained_project

pytestmark = pytest.mark.slow
IN_PROCESS = pytest.mark.parametrize("ray_executor", ["ray"], indirect=True)  # this test on one way only

ROWS = 3000
FILES = (700, 500, 900, 300, 600)  # uneven files, several chunks each at the batch sizes used here
BAD = {(1, 10): ("n_links", "many"), (2, 50): ("sender_domain", None), (2, 870): ("n_links", "9999")}
ACTOR = "ray::MapWorker(MapBatches(FileScorer))"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained_project(tmp_path_factory.mktemp("spam") / "p")


def _open(root: Path, compute: str) -> Project:
    return open_project(root, env={"MLFACTORY_COMPUTE": compute}, actor="test")


@pytest.fixture
def root(template: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(template, tmp_path / "p"))  # a private copy of the trained project


def seeded_input(
    root: Path, folder: Path, *, bad: bool = False, sizes: tuple[int, ...] = FILES, suffix: str = ".parquet"
) -> Path:
    """Emails drawn from the project's data by a seeded generator, with a ``row_id``, written as Parquet (or
    CSV) files of ``sizes`` rows; ``bad`` puts refused values in the 2nd and 3rd files (numbers as text)."""
    emails = pd.read_csv(root / "data" / "emails.csv")
    rng = np.random.default_rng(11)
    frame = emails.iloc[rng.integers(0, len(emails), sum(sizes))].reset_index(drop=True)
    frame.insert(0, "row_id", np.arange(len(frame)))
    starts = np.cumsum((0, *sizes))
    if bad:
        frame = frame.assign(n_links=frame["n_links"].astype(str)).astype({"sender_domain": object})
        for (file, row), (column, value) in BAD.items():
            frame.loc[starts[file] + row, column] = value
    folder.mkdir()
    for i, (a, b) in enumerate(itertools.pairwise(starts)):
        part = frame.iloc[a:b]
        if suffix == ".csv":
            part.to_csv(folder / f"part-{i}.csv", index=False)
        else:
            part.to_parquet(folder / f"part-{i}.parquet", index=False)
    return folder


def score_both(
    root: Path, source: Path, out: str, ray_url: str, **options: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The same run on this machine and on the Ray at ``ray_url``, into ``local/<out>`` and ``ray/<out>``."""
    with _open(root, "local") as project:
        here = project.predict_file("spam", source, source.parent / "local" / out, **options)
    with _open(root, ray_url) as project:
        there = project.predict_file("spam", source, source.parent / "ray" / out, **options)
    return here, there


def same_files(here: dict[str, Any], there: dict[str, Any]) -> None:
    """The two runs' summaries and files are the same, apart from where they were written, and the Ray run
    left no staging folder."""
    for key in ("model", "rows", "rows_in", "bad_rows"):
        assert here[key] == there[key], key
    for a, b in zip(here["parts"], there["parts"], strict=True):
        assert Path(a).name == Path(b).name
        assert pq.read_table(a).equals(pq.read_table(b)), a
    assert (here["rejected"] is None) == (there["rejected"] is None)
    if here["rejected"] is not None:  # the same rows, reasons and input files, by path
        assert pq.read_table(here["rejected"]).equals(pq.read_table(there["rejected"]))
    assert not list(Path(there["output"]).parent.rglob(".*staging-*"))


def test_ray_writes_the_local_parts_row_for_row(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ray_executor: RayExecutor
) -> None:
    source = seeded_input(root, tmp_path / "in", bad=True)
    with _open(root, "local") as project:
        here = project.predict_file("spam", source, tmp_path / "local-out", batch_rows=256)
    # on Ray this process neither loads the model nor scores: the actors load it by digest and score
    monkeypatch.setattr(Registry, "load", lambda *_: pytest.fail("the model was loaded by the driver"))
    monkeypatch.setattr(local_batch, "score_dataset", lambda *_, **__: pytest.fail("scored locally"))
    seen: list[local_batch.ScoreProgress] = []
    with _open(root, ray_executor.url) as project:
        assert project.compute.url == ray_executor.url
        there = project.predict_file(
            "spam", source, tmp_path / "ray-out", batch_rows=256, progress=seen.append
        )
    assert there["rows_in"] == ROWS and there["bad_rows"] == len(BAD) and there["rows"] == ROWS - len(BAD)
    assert len(there["parts"]) == sum(-(-n // 256) for n in FILES)  # one part per chunk, as locally
    same_files(here, there)
    assert not [p for p in (tmp_path / "ray-out").iterdir() if not p.name.startswith("part-")]  # no staging
    scored = pd.read_parquet(tmp_path / "ray-out").sort_values("row_id")
    assert scored["row_id"].tolist() == sorted(set(range(ROWS)) - {_row(k) for k in BAD})
    assert len(seen) == len(FILES) and seen[-1].rows_in == seen[-1].total_rows == ROWS


def _row(key: tuple[int, int]) -> int:
    file, row = key
    return sum(FILES[:file]) + row


@pytest.mark.parametrize("out", ["scored.parquet", "scored.csv"])
def test_one_output_file_and_its_refused_rows_match(
    root: Path, tmp_path: Path, out: str, ray_executor: RayExecutor
) -> None:
    source = seeded_input(root, tmp_path / "in", bad=True, suffix=Path(out).suffix)  # CSV in, CSV out
    here, there = score_both(root, source, out, ray_executor.url, batch_rows=500, on_bad_rows="report")
    assert here["parts"] == [here["output"]] and there["parts"] == [there["output"]]
    if out.endswith(".csv"):
        assert pd.read_csv(here["output"]).equals(pd.read_csv(there["output"]))
        here, there = dict(here, parts=[]), dict(there, parts=[])
    same_files(here, there)
    report = pd.read_parquet(there["rejected"])
    assert report["_row"].tolist() == sorted(_row(k) for k in BAD)


def test_a_bad_row_in_fail_mode_is_the_same_error_and_leaves_nothing(
    root: Path, tmp_path: Path, ray_executor: RayExecutor
) -> None:
    source = seeded_input(root, tmp_path / "in", bad=True)
    errors = []
    for way, compute in (("local", "local"), ("ray", ray_executor.url)):
        with _open(root, compute) as project, pytest.raises(ValidationError) as caught:
            project.predict_file("spam", source, tmp_path / f"{way}-out", on_bad_rows="fail", batch_rows=128)
        errors.append((str(caught.value), caught.value.reasons))
        assert not list((tmp_path / f"{way}-out").glob("*")), "output left by a failed run"
    assert errors[0] == errors[1]
    assert f"row {_row((1, 10))} of the input (" in errors[1][0] and "part-1.parquet, row 10)" in errors[1][0]


def test_a_missing_column_is_the_same_error_before_any_work(
    root: Path, tmp_path: Path, ray_executor: RayExecutor
) -> None:
    source = seeded_input(root, tmp_path / "in")
    for path in source.iterdir():
        pq.write_table(pq.read_table(path).drop_columns(["body"]), path)
    errors = []
    for way, compute in (("local", "local"), ("ray", ray_executor.url)):
        with _open(root, compute) as project, pytest.raises(ValidationError) as caught:
            project.predict_file("spam", source, tmp_path / f"{way}-out")
        errors.append((str(caught.value), caught.value.reasons))
        assert not (tmp_path / f"{way}-out").exists()
    assert errors[0] == errors[1]
    assert "missing input column(s) ['body']" in errors[1][0]


def _actors() -> dict[int, str]:
    rows = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True, check=True)
    found = {}
    for line in rows.stdout.splitlines():
        pid, args = line.strip().split(maxsplit=1)
        if args.startswith(ACTOR):
            found[int(pid)] = args
    return found


class Killer(threading.Thread):
    """Kills one scoring actor in the middle of a file: an actor whose process title says it runs a task
    (Ray titles it ``….submit`` while it does) is stopped, and killed if, stopped, it still says so."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.killed: int | None = None
        self.done = threading.Event()

    def run(self) -> None:
        while self.killed is None and not self.done.is_set():
            for pid, title in _actors().items():
                if title.endswith(".submit") and self._stopped_busy(pid):
                    os.kill(pid, signal.SIGKILL)
                    self.killed = pid
                    return
            time.sleep(0.005)

    @staticmethod
    def _stopped_busy(pid: int) -> bool:
        os.kill(pid, signal.SIGSTOP)
        busy = _actors().get(pid, "").endswith(".submit")
        if not busy:
            os.kill(pid, signal.SIGCONT)
        return busy


@IN_PROCESS
def test_a_worker_killed_mid_file_is_retried_and_the_output_is_unchanged(
    root: Path, tmp_path: Path, ray_executor: RayExecutor
) -> None:
    sizes = (800,) * 6
    source = seeded_input(root, tmp_path / "in", sizes=sizes)
    with _open(root, "local") as project:
        here = project.predict_file("spam", source, tmp_path / "local-out", batch_rows=40)
    killer = Killer()
    killer.start()
    try:
        with _open(root, ray_executor.url) as project:
            there = project.predict_file("spam", source, tmp_path / "ray-out", batch_rows=40)
    finally:
        killer.done.set()
        killer.join()
    assert killer.killed is not None, "no scoring actor was seen running a file"
    assert killer.killed not in _actors()
    same_files(here, there)
    assert sorted(p.name for p in (tmp_path / "ray-out").iterdir()) == [Path(p).name for p in there["parts"]]


@IN_PROCESS
def test_without_retries_a_killed_worker_fails_the_run_and_publishes_nothing(
    root: Path, tmp_path: Path, ray_executor: RayExecutor
) -> None:
    source = seeded_input(root, tmp_path / "in", sizes=(800,) * 6)
    no_retries = RayExecutor(ray_executor.url, max_retries=0)  # joins the module's Ray
    with _open(root, "local") as project:
        version = project.registry.resolve("spam")
        job = RayScoring(
            version, project.config.stores.artifacts, root, {}, str(source), tmp_path, "report", 40
        )
    killer = Killer()
    killer.start()
    try:
        with pytest.raises(ComputeError, match="worker running FileScorer scoring the input on Ray died"):
            score_on_ray(no_retries, job, str(tmp_path / "out"))
    finally:
        killer.done.set()
        killer.join()
    assert killer.killed is not None
    assert not list((tmp_path / "out").glob("part-*")) and not (tmp_path / "out.rejected.parquet").exists()
