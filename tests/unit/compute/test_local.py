"""The local executor: this machine's worker processes, in order, with errors that name the item."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from compute_helpers import add, dies_once, fails_on_three, grid_search_best, pid, seeded_arrays, summary
from mlfactory.compute import Executor, LocalExecutor, RayExecutor, open_executor
from mlfactory.config import load_project_config
from mlfactory.errors import ComputeError, ConfigError
from mlfactory.project import open_project

ARRAYS = seeded_arrays(12)


@pytest.fixture(scope="module")
def local() -> Iterator[LocalExecutor]:
    executor = LocalExecutor(workers=2)
    yield executor
    executor.close()


def test_map_is_the_serial_result_in_order(local: LocalExecutor) -> None:
    assert local.map(summary, ARRAYS) == [summary(a) for a in ARRAYS]
    assert list(local.imap(summary, ARRAYS)) == [summary(a) for a in ARRAYS]
    assert local.map(summary, []) == []


def test_the_work_runs_in_worker_processes(local: LocalExecutor) -> None:
    pids = set(local.map(pid, range(8)))
    assert os.getpid() not in pids
    assert 1 <= len(pids) <= local.workers == 2


def test_a_failing_item_is_named_by_position_with_its_error(local: LocalExecutor) -> None:
    with pytest.raises(
        ComputeError, match=r"fails_on_three failed on item 3 \(0-based\) of 6: ValueError: no"
    ):
        local.map(fails_on_three, list(range(6)))
    with pytest.raises(ComputeError) as caught:
        list(local.imap(fails_on_three, [1, 3, 3]))
    assert "item 1 (0-based) of 3" in str(caught.value)  # the first failure by position
    assert isinstance(caught.value.__cause__, ValueError)


def test_a_stream_stopped_early_leaves_the_executor_usable(local: LocalExecutor) -> None:
    stream = local.imap(summary, ARRAYS)
    assert next(stream) == summary(ARRAYS[0])
    stream.close()  # the rest is cancelled
    assert local.map(add, []) == []
    assert local.map(summary, ARRAYS[:2]) == [summary(a) for a in ARRAYS[:2]]


def test_submit_holds_the_result_or_a_compute_error(local: LocalExecutor) -> None:
    assert local.submit(add, 2, 3).result() == 5
    error = local.submit(fails_on_three, 3).exception()
    assert isinstance(error, ComputeError)
    assert "fails_on_three failed as a submitted task: ValueError" in str(error)
    assert isinstance(error.__cause__, ValueError)


def test_a_killed_worker_is_a_compute_error_and_the_pool_recovers(
    local: LocalExecutor, tmp_path: Path
) -> None:
    marker = str(tmp_path / "died")
    with pytest.raises(ComputeError, match=r"the worker running dies_once on item 0 \(0-based\) of 1 died"):
        local.map(dies_once, [marker])
    assert local.map(dies_once, [marker]) == ["survived"]
    assert local.map(add, []) == [] and local.submit(add, 1, 1).result() == 2


def test_scikit_learn_n_jobs_runs_under_the_backend_with_the_same_result(local: LocalExecutor) -> None:
    import joblib

    with local.joblib_backend():
        backend, n_jobs = joblib.parallel.get_active_backend()
        parallel = grid_search_best(2)
    assert (type(backend).__name__, n_jobs) == ("LokyBackend", local.workers)
    assert parallel == grid_search_best(1)


def test_close_is_idempotent_and_a_closed_executor_reopens() -> None:
    executor = LocalExecutor(workers=1)
    executor.close()
    assert executor.map(add, []) == []
    assert executor.submit(add, 20, 22).result() == 42
    executor.close()
    executor.close()


def test_workers_default_to_the_cpu_count() -> None:
    assert LocalExecutor().workers == (os.cpu_count() or 1)


def test_open_executor_chooses_by_url() -> None:
    assert isinstance(open_executor("local"), LocalExecutor)
    for url in ("ray", "ray://head:10001"):
        executor = open_executor(url)
        assert isinstance(executor, RayExecutor) and executor.url == url
        executor.close()  # never connected: nothing to release
    with pytest.raises(ConfigError, match="'dask' is not an executor"):
        open_executor("dask")


def test_ray_missing_is_a_compute_error_saying_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(
        ComputeError, match=r"Ray is not installed; install it with pip install 'mlfactory\[ray\]'"
    ):
        RayExecutor("ray").map(add, [1])


def _project_file(root: Path, compute: str | None) -> Path:
    (root / "mlfactory.yaml").write_text("name: p\n" + (f"compute: {compute}\n" if compute else ""))
    return root


@pytest.mark.parametrize("url", ["local", "ray", "ray://127.0.0.1:10001", "ray://head.example:1"])
def test_compute_accepts_the_executor_urls(tmp_path: Path, url: str) -> None:
    assert load_project_config(_project_file(tmp_path, url), env={}).config.compute == url


@pytest.mark.parametrize(
    "url", ["dask", "ray://head", "ray://head:0", "ray://head:70000", "ray:10001", "RAY"]
)
def test_compute_refuses_anything_else_naming_the_choices(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError, match=r"compute: not an executor; write local, ray"):
        load_project_config(_project_file(tmp_path, url), env={})


def test_compute_defaults_to_local_and_the_environment_overrides_it(tmp_path: Path) -> None:
    root = _project_file(tmp_path, None)
    loaded = load_project_config(root, env={})
    assert (loaded.config.compute, loaded.origins["compute"]) == ("local", "default")
    loaded = load_project_config(root, env={"MLFACTORY_COMPUTE": "ray://head:10001"})
    assert (loaded.config.compute, loaded.origins["compute"]) == ("ray://head:10001", "env")
    with pytest.raises(ConfigError, match=r"compute: not an executor.*\(got 'nope'\)"):
        load_project_config(root, env={"MLFACTORY_COMPUTE": "nope"})
    # variables that name no setting are not settings
    assert load_project_config(root, env={"MLFACTORY_SERVE_SETTINGS": "{}"}).config.compute == "local"


def test_the_project_opens_its_executor_on_first_use_and_closes_it(tmp_path: Path) -> None:
    with open_project(_project_file(tmp_path, None), env={}) as project:
        assert "compute" not in vars(project)
        executor: Executor = project.compute
        assert project.compute is executor and isinstance(executor, LocalExecutor)
        assert executor.submit(add, 1, 2).result() == 3
    assert executor._pool is None  # closed with the project
    with open_project(_project_file(tmp_path, "ray"), env={}) as project:
        assert isinstance(project.compute, RayExecutor) and project.compute.url == "ray"
