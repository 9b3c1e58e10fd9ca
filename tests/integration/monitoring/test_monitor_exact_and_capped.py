"""A monitoring run over the real prediction log reports the numbers of the straightforward computation, and
monitoring and training run with their native threads capped (``monitoring.native_threads``,
``training.native_threads``), which a setting raises."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import mlfactory.monitoring.partial as partial
import mlfactory.monitoring.service as service
import mlfactory.project.train as train
from mlfactory.monitoring import Window, column_drift, run_monitor, version_reference
from mlfactory.monitoring.window_counts import WindowCounts
from mlfactory.project import Project, open_project
from mlfactory.stores.predictions import LogWindow, PredictionLog
from text_view_helpers import straightforward_views


def _threads() -> set[int]:
    """The thread counts of the native libraries loaded now (BLAS, OpenMP)."""
    return {int(lib["num_threads"]) for lib in threadpool_info()}


def test_a_window_reports_what_the_straightforward_computation_gives(
    project: Project, plog: PredictionLog, send
) -> None:
    send(1200, drift=0.6)
    settings = project.config.monitoring
    (report,) = run_monitor(project.metadata, plog, settings, model="spam", window=Window(seconds=3600))
    mv = project.metadata.get_model_version("spam", report.version)
    ref = version_reference(mv.profile, mv.signature.label)
    with LogWindow(plog, "spam", Window(seconds=3600)) as lw:
        chunks = [rows for rows, _ in lw.chunks(report.version, "production", mv.signature.input_names)]
        frame = pa.Table.from_batches(chunks).to_pandas()  # counted the plain way, as a pandas frame
        present = set(lw.inputs)
    # every text view measured the plain way, then counted as the numeric column it is
    for source, text in ref.text.items():
        for view, values in straightforward_views(frame[source], text.vocabulary).items():
            frame[f"{source}.{view}"] = values
    counts = WindowCounts(ref.columns)
    counts.update(frame)
    expected = column_drift(ref.columns, counts, settings, present=present)
    assert len(frame) == report.rows == 1200
    assert any(r.drifted for r in expected if "." in r.column)  # the text views' numbers are in play
    assert [r.to_json() for r in report.columns] == [r.to_json() for r in expected]


def _record(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, seen: list[set[int]]) -> None:
    """Record the native thread counts each time ``module.name`` is called."""
    original = getattr(module, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        seen.append(_threads())
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)


def test_monitoring_counts_and_tests_on_one_native_thread_unless_raised(
    project: Project, plog: PredictionLog, send, monkeypatch: pytest.MonkeyPatch
) -> None:
    send(300)
    counting: list[set[int]] = []
    testing: list[set[int]] = []
    _record(monkeypatch, partial.GroupCounts, "add", counting)
    _record(monkeypatch, service, "column_drift", testing)
    default = project.config.monitoring
    raised = default.model_copy(update={"native_threads": 3})
    for settings, threads in ((default, {1}), (raised, {3})):
        counting.clear()
        testing.clear()
        with threadpool_limits(limits=2):  # what the libraries would use without the cap
            run_monitor(project.metadata, plog, settings, model="spam", store=False)
            assert _threads() == {2}  # restored afterwards
        assert counting and testing
        assert all(seen == threads for seen in counting + testing)


def test_a_slice_counted_on_a_worker_caps_its_own_threads(
    project: Project, plog: PredictionLog, send, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker process does not inherit the caller's limits: the slice applies the spec's."""
    send(300)
    counting: list[set[int]] = []
    _record(monkeypatch, partial.GroupCounts, "add", counting)
    mv = project.metadata.get_model_version("spam", 1)
    ref = version_reference(mv.profile, mv.signature.label)
    with LogWindow(plog, "spam", Window(seconds=3600)) as lw:
        (part,) = lw.parts(1, "production", mv.signature.input_names)
    for threads in (1, 3):
        with threadpool_limits(limits=2):
            partial.count_part((partial.CountSpec(ref, (0, 1), threads=threads), part))
        assert counting and all(seen == {threads} for seen in counting)
        counting.clear()


def test_training_fits_on_one_native_thread_unless_raised(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    fitting: list[set[int]] = []
    _record(monkeypatch, train, "fit_model", fitting)
    with threadpool_limits(limits=2):
        project.train("spam")
    assert fitting == [{1}]
    config = project.root / "mlfactory.yaml"
    config.write_text(config.read_text() + "\ntraining:\n  native_threads: 3\n")
    fitting.clear()
    with open_project(project.root, env={}, actor="test") as raised, threadpool_limits(limits=2):
        raised.train("spam")
    assert fitting == [{3}]
