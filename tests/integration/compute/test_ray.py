"""The Ray executor against a real Ray on this machine, both ways: ``compute: ray`` (Ray started in this
process) and ``compute: ray://127.0.0.1:PORT`` (a head started by ``ray start``, reached as a client). Each
gives the local executor's results on the same seeded input, names a failing item, turns a dead worker into a
ComputeError (or survives it by Ray's retries), and leaves no Ray process behind.

Ray starts once per way (conftest.py's module-scoped ``ray_executor``): several seconds each.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import ray
from ray import cloudpickle

import compute_helpers
from compute_helpers import add, dies_once, fails_on_three, grid_search_best, pid, seeded_arrays, summary
from mlfactory.compute import LocalExecutor, RayExecutor
from mlfactory.errors import ComputeError

pytestmark = pytest.mark.slow

# the helpers travel with the tasks: a client-mode cluster's workers do not see the tests folder
cloudpickle.register_pickle_by_value(compute_helpers)

ARRAYS = seeded_arrays(12)


@pytest.fixture(scope="module")
def expected() -> dict[str, object]:
    """What the local executor gives on the same input: the results every Ray way must match."""
    local = LocalExecutor(workers=2)
    try:
        results = local.map(summary, ARRAYS)
        with local.joblib_backend():
            search = grid_search_best(2)
    finally:
        local.close()
    return {"map": results, "search": search}


def test_map_and_imap_give_the_local_results_in_order(
    ray_executor: RayExecutor, expected: dict[str, object]
) -> None:
    assert ray_executor.map(summary, ARRAYS) == expected["map"]
    assert list(ray_executor.imap(summary, ARRAYS)) == expected["map"]
    assert ray_executor.map(summary, []) == []


def test_the_work_runs_in_ray_workers(ray_executor: RayExecutor) -> None:
    assert ray_executor.workers == 2
    assert os.getpid() not in set(ray_executor.map(pid, range(6)))


def test_submit_gives_a_future(ray_executor: RayExecutor) -> None:
    assert ray_executor.submit(add, 2, 3).result(timeout=120) == 5
    error = ray_executor.submit(fails_on_three, 3).exception(timeout=120)
    assert isinstance(error, ComputeError)
    assert "fails_on_three failed as a submitted task: ValueError: no threes please" in str(error)


def test_a_failing_item_is_named_with_the_worker_error(ray_executor: RayExecutor) -> None:
    with pytest.raises(
        ComputeError, match=r"fails_on_three failed on item 3 \(0-based\) of 6: ValueError: no"
    ):
        ray_executor.map(fails_on_three, list(range(6)))
    with pytest.raises(ComputeError, match=r"on item 1 \(0-based\) of 3"):  # the first by position
        list(ray_executor.imap(fails_on_three, [1, 3, 3]))


def test_scikit_learn_under_the_ray_backend_finds_the_local_best(
    ray_executor: RayExecutor, expected: dict[str, object]
) -> None:
    import joblib

    with ray_executor.joblib_backend():
        backend, n_jobs = joblib.parallel.get_active_backend()
        search = grid_search_best(2)
    assert (type(backend).__name__, n_jobs) == ("RayBackend", 2)
    assert search == expected["search"]


def test_a_killed_worker_is_a_compute_error_without_retries_and_survived_with(
    ray_executor: RayExecutor, tmp_path: Path
) -> None:
    no_retries = RayExecutor(ray_executor.url, max_retries=0)  # joins this process's Ray connection
    with pytest.raises(ComputeError, match=r"worker running dies_once on item 0 \(0-based\) of 1 died"):
        no_retries.map(dies_once, [str(tmp_path / "first")])
    no_retries.close()
    assert ray.is_initialized()  # it did not start Ray, so it left it running
    assert ray_executor.max_retries == 3
    assert ray_executor.map(dies_once, [str(tmp_path / "second")]) == ["survived"]
    assert (tmp_path / "second").exists()  # it did die once, and Ray ran it again
