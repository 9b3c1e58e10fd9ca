"""Monitoring a window spread over many prediction-log segments: counted here slice by slice, on the local
process pool, on a ``ray start --head`` cluster reached by ``ray://`` or on a Ray started in this process
(conftest.py's ``ray_executor``, both ways), the report is the same in every count, statistic, p-value and
finding.

The trained spam project logs generated traffic (a fixed clock for the emails, so every run sees the same
rows) through the servers' own writer, one segment per flush: quiet traffic first, drifted traffic after, a
third of it labelled. Slices are made small here (a few segments each) so the window has many.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from log_helpers import log_request
from mlfactory.compute import Executor, LocalExecutor, RayExecutor
from mlfactory.inputs import Batch
from mlfactory.monitoring import MonitorReport, Window, run_monitor
from mlfactory.monitoring import partial as partial_module
from mlfactory.project import Project, open_project
from mlfactory.quickstart.world import SpamWorld
from mlfactory.stores.fs import open_location
from mlfactory.stores.predictions import LogWindow, PredictionLog, PredictionReader, open_prediction_log
from mlfactory.stores.predictions import window as window_module
from mlfactory.stores.predictions.window import LogPart, read_part
from project_helpers import trained_project

pytestmark = pytest.mark.slow

SEGMENTS = 16
SEGMENT_ROWS = 1500
PART_ROWS = 4000  # three segments a slice: six slices


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    template = trained_project(tmp_path_factory.mktemp("parallel-monitoring") / "template", rows=2500)
    root = tmp_path_factory.mktemp("parallel-monitoring") / "project"
    shutil.copytree(template, root)
    with open_project(root, env={}, actor="test") as p:
        _log_traffic(p)
        yield p


def _log_traffic(project: Project) -> None:
    """SEGMENTS flushes of generated emails scored by the production version; the later half drifted, every
    third row labelled."""
    version = project.registry.resolve("spam@production")
    model = project.registry.load(version)
    world = SpamWorld(99)
    clock = datetime(2026, 6, 1, 12, tzinfo=UTC)  # the emails' own times: the same traffic on every run
    plog = open_prediction_log(project.loaded)
    labels: list[tuple[str, Any]] = []
    for k in range(SEGMENTS):
        frame = world.emails(
            SEGMENT_ROWS, start=clock - timedelta(days=1), end=clock, drift=0.0 if k < SEGMENTS // 2 else 0.6
        )
        rows = model.rows(frame)
        pred, proba = model.predict(frame)
        ids = plog.ids.make(SEGMENT_ROWS)
        plog.append(
            model="spam",
            version=version.version,
            route="production",
            time=time.time(),
            latency_ms=2.0,
            request_ids=ids,
            batch=Batch(list(rows.names), columns={c: rows.columns[c] for c in rows.names}),
            predictions=pred,
            probabilities=proba,
        )
        assert plog.flush() == SEGMENT_ROWS  # one segment per flush
        labels += list(zip(ids[::3], frame["is_spam"].to_numpy()[::3].tolist(), strict=True))
    plog.close()
    project.metadata.add_feedback(labels, actor="test", model="spam")


@pytest.fixture(autouse=True)
def small_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(window_module, "PART_ROWS", PART_ROWS)


class Spy(Executor):
    """An executor that passes work on to another and notes how many items each call sent."""

    def __init__(self, inner: Executor) -> None:
        self.url, self.inner, self.sent = inner.url, inner, []  # type: str, Executor, list[int]

    @property
    def workers(self) -> int:
        return self.inner.workers

    def imap(self, fn: Any, items: Sequence[Any]) -> Iterator[Any]:
        self.sent.append(len(items))
        return self.inner.imap(fn, items)

    def submit(self, fn: Any, *args: object) -> Any:
        return self.inner.submit(fn, *args)

    def joblib_backend(self) -> Any:
        return self.inner.joblib_backend()

    def close(self) -> None:
        self.inner.close()


@pytest.fixture(scope="module")
def local_executor() -> Iterator[LocalExecutor]:
    executor = LocalExecutor(workers=2)
    yield executor
    executor.close()


def _report(project: Project, window: Window, now: datetime, compute: Executor | None) -> dict[str, Any]:
    (report,) = run_monitor(
        project.metadata,
        project.predictions,
        project.config.monitoring,
        model="spam",
        window=window,
        now=now,
        store=False,
        alerts=False,
        compute=compute,
    )
    assert isinstance(report, MonitorReport)
    return report.to_dict()


@pytest.mark.parametrize("window", [Window(seconds=3600), Window(last=SEGMENTS * SEGMENT_ROWS - 2000)])
def test_every_executor_gives_the_report_counted_here(
    project: Project,
    window: Window,
    local_executor: LocalExecutor,
    ray_executor: RayExecutor,
) -> None:
    now = datetime.now(UTC)
    with LogWindow(project.predictions, "spam", window, now) as lw:
        assert len(lw.files) == SEGMENTS
        [group] = lw.groups()
        parts = lw.parts(group["version"], group["route"], ["subject"])
    assert len(parts) == 6 >= partial_module.MIN_PARALLEL_PARTS

    here = _report(project, window, now, None)
    assert here["rows"] == (SEGMENTS * SEGMENT_ROWS if window.seconds else window.last)
    assert here["performance"]["labelled_rows"] > 1000 and here["findings"]  # labels joined, drift found
    for inner in (local_executor, ray_executor):
        spy = Spy(inner)
        assert _report(project, window, now, spy) == here, inner.url
        assert spy.sent == [6]  # the window's slices went to the executor, in one call


def request_ids(part: LogPart) -> list[str]:
    """The request ids of a slice's rows, in order (run on the pool's workers)."""
    return [i for frame, _ in read_part(part) for i in frame["request_id"].tolist()]


class Numbers:
    """A batch of one numeric input, ``x``."""

    def __init__(self, x: np.ndarray) -> None:
        self.names, self.columns, self.matrix, self.violations = ("x",), {"x": x}, x[:, None], None


def test_slices_of_a_log_on_a_bucket_read_on_workers_give_the_window_rows(
    s3_bucket: Any, tmp_path: Path
) -> None:
    location = open_location(f"{s3_bucket.url}/log", tmp_path, s3_bucket.storage_options)
    log = PredictionLog(location)
    sent: list[str] = []
    for k in range(5):
        sent += log_request(log, Numbers(np.arange(4.0) + k), np.zeros(4))
        log.flush()
    with LogWindow(PredictionReader(location), "m", Window(last=18)) as lw:
        parts = lw.parts(1, "production", ["x"], part_rows=8)
        here = [i for frame, _ in lw.chunks(1, "production", ["x"]) for i in frame["request_id"].tolist()]
    assert [len(p.files) for p in parts] == [2, 2, 1] and parts[0].protocol == "s3"
    assert sorted(here) == sorted(sent[2:])  # the newest 18 rows
    pool = LocalExecutor(workers=2)  # started after the bucket's credentials were set in the environment
    try:
        assert [i for ids in pool.map(request_ids, parts) for i in ids] == here
    finally:
        pool.close()
