"""The compute tests' Ray, two ways: started in this process (``compute: ray``), and a ``ray start --head``
cluster reached by ``ray://`` (:func:`ray_helpers.ray_head`). Each is started once per test module and
stopped at the module's end with none of its processes left behind.

Module-scoped, not one Ray for the session: a process connects to one Ray at a time, and an in-process Ray
left running would silently stand in for a ``ray://`` cluster; and each module then proves that what it
started is gone. A module that runs its tests both ways (``ray_executor``) must put one of those tests
first, so that its ``ray://`` head comes and goes before the in-process Ray starts.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import ray

from mlfactory.compute import RayExecutor, open_executor
from ray_helpers import ray_head, ray_processes_under, still_alive

WORKERS = 2


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[RayExecutor]:
    """A Ray of ``WORKERS`` CPUs started in this process by the executor; a project opened with
    ``compute: ray`` meanwhile joins it. At the module's end the executor stops it, as it started it, and
    every Ray process it had started must be gone."""
    assert not ray.is_initialized(), "another Ray is still connected in this process"
    executor = open_executor("ray", workers=WORKERS)
    assert isinstance(executor, RayExecutor)
    assert executor.workers == WORKERS  # started here, with the CPUs asked for
    started = ray_processes_under(os.getpid()) - {os.getpid()}
    assert started, "no Ray process found under this one; the leftover check would prove nothing"
    yield executor
    started |= ray_processes_under(os.getpid()) - {os.getpid()}  # and the workers the tests started
    executor.close()
    assert not ray.is_initialized()  # the executor started it, so it stopped it
    assert not still_alive(started), "Ray processes left behind by ray.shutdown()"


# "ray://" first: the in-process Ray (ray_cluster) lives until the module ends, and a process connects to
# one Ray at a time
@pytest.fixture(scope="module", params=["ray://", "ray"])
def ray_executor(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RayExecutor]:
    """The module's Ray both ways, connected: a ``ray start --head`` cluster by ``ray://``, then the
    in-process one. A project opened with the executor's ``url`` meanwhile joins the connection."""
    if request.param == "ray":
        yield request.getfixturevalue("ray_cluster")
    else:
        yield from ray_head(tmp_path_factory.mktemp("ray-head") / "head.log")
