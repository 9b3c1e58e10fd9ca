"""The Ray executor against a real Ray on this machine, both ways: ``compute: ray`` (Ray started in this
process) and ``compute: ray://127.0.0.1:PORT`` (a head started by ``ray start``, reached as a client). Each
gives the local executor's results on the same seeded input, names a failing item, turns a dead worker into a
ComputeError (or survives it by Ray's retries), and leaves no Ray process behind.

Ray starts once per way (a module-scoped fixture): several seconds each.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray
from ray import cloudpickle

import compute_helpers
from compute_helpers import add, dies_once, fails_on_three, grid_search_best, pid, seeded_arrays, summary
from mlfactory.compute import LocalExecutor, RayExecutor, open_executor
from mlfactory.errors import ComputeError
from ray_helpers import ray_processes_under, still_alive

pytestmark = pytest.mark.slow

# the helpers travel with the tasks: a client-mode cluster's workers do not see the tests folder
cloudpickle.register_pickle_by_value(compute_helpers)

ARRAYS = seeded_arrays(12)
RAY = Path(sys.executable).with_name("ray")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


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


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # every process of the group has exited already
        os.killpg(pgid, sig)


def _head(log: Path) -> Iterator[RayExecutor]:
    port, client_port = _free_port(), _free_port()
    command = [
        str(RAY), "start", "--head", "--block", "--num-cpus", "2", "--include-dashboard=false",
        "--node-ip-address", "127.0.0.1", "--port", str(port), "--ray-client-server-port", str(client_port),
        "--dashboard-agent-listen-port", str(_free_port()),
    ]  # fmt: skip
    # a cluster of its own: none of what an in-process Ray left in this process's environment
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_") and k != "PYTHONBREAKPOINT"}
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    with log.open("w") as out:
        # its own process group: stopping it stops this head only, never another Ray on the machine
        head = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in log.read_text():
            assert head.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        executor = open_executor(f"ray://127.0.0.1:{client_port}")
        yield executor
        executor.close()
        assert not ray.is_initialized()
    finally:
        ray_processes = ray_processes_under(head.pid)
        _signal_group(head.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            head.wait(timeout=10)
        _signal_group(head.pid, signal.SIGKILL)  # what did not drain in time
        head.wait()
        assert not still_alive(ray_processes), "processes of the `ray start` head left behind"


# "ray://" first: the in-process Ray (conftest.py's ray_cluster) lives until the module ends, and a process
# connects to one Ray at a time
@pytest.fixture(scope="module", params=["ray://", "ray"])
def executor(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RayExecutor]:
    if request.param == "ray":
        yield request.getfixturevalue("ray_cluster")
    else:
        yield from _head(tmp_path_factory.mktemp("ray-head") / "head.log")


def test_map_and_imap_give_the_local_results_in_order(
    executor: RayExecutor, expected: dict[str, object]
) -> None:
    assert executor.map(summary, ARRAYS) == expected["map"]
    assert list(executor.imap(summary, ARRAYS)) == expected["map"]
    assert executor.map(summary, []) == []


def test_the_work_runs_in_ray_workers(executor: RayExecutor) -> None:
    assert executor.workers == 2
    assert os.getpid() not in set(executor.map(pid, range(6)))


def test_submit_gives_a_future(executor: RayExecutor) -> None:
    assert executor.submit(add, 2, 3).result(timeout=120) == 5
    error = executor.submit(fails_on_three, 3).exception(timeout=120)
    assert isinstance(error, ComputeError)
    assert "fails_on_three failed as a submitted task: ValueError: no threes please" in str(error)


def test_a_failing_item_is_named_with_the_worker_error(executor: RayExecutor) -> None:
    with pytest.raises(
        ComputeError, match=r"fails_on_three failed on item 3 \(0-based\) of 6: ValueError: no"
    ):
        executor.map(fails_on_three, list(range(6)))
    with pytest.raises(ComputeError, match=r"on item 1 \(0-based\) of 3"):  # the first by position
        list(executor.imap(fails_on_three, [1, 3, 3]))


def test_scikit_learn_under_the_ray_backend_finds_the_local_best(
    executor: RayExecutor, expected: dict[str, object]
) -> None:
    import joblib

    with executor.joblib_backend():
        backend, n_jobs = joblib.parallel.get_active_backend()
        search = grid_search_best(2)
    assert (type(backend).__name__, n_jobs) == ("RayBackend", 2)
    assert search == expected["search"]


def test_a_killed_worker_is_a_compute_error_without_retries_and_survived_with(
    executor: RayExecutor, tmp_path: Path
) -> None:
    no_retries = RayExecutor(executor.url, max_retries=0)  # joins this process's Ray connection
    with pytest.raises(ComputeError, match=r"worker running dies_once on item 0 \(0-based\) of 1 died"):
        no_retries.map(dies_once, [str(tmp_path / "first")])
    no_retries.close()
    assert ray.is_initialized()  # it did not start Ray, so it left it running
    assert executor.max_retries == 3
    assert executor.map(dies_once, [str(tmp_path / "second")]) == ["survived"]
    assert (tmp_path / "second").exists()  # it did die once, and Ray ran it again
