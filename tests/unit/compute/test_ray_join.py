"""Joining a ``ray://`` cluster: a head that failed to start this client's server is asked again, a failed
join leaves no half-made connection behind, and what still fails is a ComputeError naming the URL. A
stand-in ``ray`` module plays the cluster (the real ones are in tests/integration/compute)."""

from __future__ import annotations

from typing import Any

import pytest

from mlfactory.compute.ray import JOIN_ATTEMPTS, RayExecutor
from mlfactory.errors import ComputeError

URL = "ray://127.0.0.1:10001"


class Cluster:
    """``ray.init`` failing as a head does when its client server exits at once, ``failures`` times."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures, self.error = failures, error
        self.inits = self.shutdowns = 0

    def init(self, address: str) -> None:
        assert address == URL
        self.inits += 1
        if self.inits <= self.failures:
            raise self.error or ConnectionAbortedError("Initialization failure from server:\nRuntimeError")

    def shutdown(self) -> None:
        self.shutdowns += 1


def join(cluster: Any) -> None:
    RayExecutor(URL)._connect(cluster)


def test_a_head_that_failed_to_start_the_clients_server_is_asked_again() -> None:
    cluster = Cluster(failures=JOIN_ATTEMPTS - 1)
    join(cluster)
    assert cluster.inits == JOIN_ATTEMPTS and cluster.shutdowns == JOIN_ATTEMPTS - 1  # each try starts clean


def test_a_head_that_keeps_failing_is_a_compute_error_and_leaves_nothing_connected() -> None:
    cluster = Cluster(failures=JOIN_ATTEMPTS)
    with pytest.raises(ComputeError, match="could not reach the Ray cluster at ray://127.0.0.1:10001"):
        join(cluster)
    assert cluster.inits == JOIN_ATTEMPTS and cluster.shutdowns == JOIN_ATTEMPTS


def test_other_errors_are_not_retried() -> None:
    cluster = Cluster(failures=1, error=ConnectionError("connection refused"))
    with pytest.raises(ComputeError, match="connection refused"):
        join(cluster)
    assert cluster.inits == 1 and cluster.shutdowns == 1
