"""``compute: ray`` and ``compute: ray://host:port``: the work as Ray tasks.

``ray`` starts a Ray on this machine when the work first needs it, and stops it on
:meth:`RayExecutor.close`; ``ray://host:port`` connects to an existing cluster through its client port
(10001 unless its head was started with another ``--ray-client-server-port``) and only disconnects on close.
Ray keeps one connection per process: when this process is already connected (a caller's own
``ray.init``, or another executor), the executor uses that connection and leaves it open on close.

Authentication: since 2.59 Ray turns token authentication on for a cluster ``ray.init`` starts (and writes
the token to ``~/.ray/auth_token``), and a client that does not present it is refused (its connection
times out). That is what keeps the started cluster private: Ray replaces a loopback node address with the
machine's own and its services listen on every interface, so never set ``RAY_AUTH_MODE=disabled``. For
``ray://``, when ``RAY_AUTH_MODE`` is unset and a token is at hand (``RAY_AUTH_TOKEN``,
``RAY_AUTH_TOKEN_PATH`` or that file), the executor presents it, as Ray does when joining a cluster by its
GCS address; an explicit ``RAY_AUTH_MODE`` is always respected.

Ray is imported only here, and only when the work first runs, so ``compute: local`` never pays for it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager, contextmanager
from types import ModuleType
from typing import Any

from mlfactory.compute.base import (
    SUBMITTED,
    Executor,
    R,
    T,
    chained,
    item_where,
    run_ordered,
    task_failed,
    worker_died,
)
from mlfactory.errors import ComputeError

#: Ray's own default: a task whose worker died (not one that raised) is run again this many times
RAY_MAX_RETRIES = 3
JOIN_ATTEMPTS = 3  # joins of a ray:// cluster whose head failed to start this client's server


class RayExecutor(Executor):
    """Runs each item as a Ray task (one CPU each); a task whose worker dies is retried ``max_retries``
    times before its error is raised."""

    def __init__(self, url: str, *, workers: int | None = None, max_retries: int = RAY_MAX_RETRIES) -> None:
        """
        Args:
            url: ``ray`` or ``ray://host:port``.
            workers: CPUs of the Ray this executor starts (``ray``; this machine's count if None). A
                cluster's own CPUs are what it has.
            max_retries: runs of a task again after its worker died (Ray's ``max_retries``).
        """
        self.url = url
        self.max_retries = max_retries
        self._cpus = workers
        self._ray: ModuleType | None = None
        self._connected_here = False
        self._remote: dict[Callable[..., Any], Any] = {}
        self._lock = threading.Lock()

    @property
    def workers(self) -> int:
        return max(1, int(self._connected().cluster_resources().get("CPU", 1)))

    def imap(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[R]:
        ray = self._connected()
        task = self._task(fn)
        count = len(items)
        return run_ordered(
            task.remote,
            lambda position, ref: self._get(fn, item_where(position, count), ref),
            lambda ref: ray.cancel(ref),
            items,
            2 * self.workers,
        )

    def submit(self, fn: Callable[..., R], *args: object) -> Future[R]:
        ref = self._task(fn).remote(*args)
        future: Future[R] = ref.future()
        return chained(future, lambda exc: self._error(fn, SUBMITTED, exc))

    def joblib_backend(self) -> AbstractContextManager[None]:
        """Ray's joblib backend (a pool of Ray actors), ``workers`` of them unless the caller sets
        ``n_jobs``."""
        return self._joblib()

    def close(self) -> None:
        with self._lock:
            if self._ray is not None and self._connected_here:
                self._ray.shutdown()
            self._ray = None
            self._connected_here = False
            self._remote.clear()

    @contextmanager
    def _joblib(self) -> Iterator[None]:
        self._connected()
        import joblib
        from ray.util.joblib import register_ray

        register_ray()  # type: ignore[no-untyped-call]  # Ray's joblib module has no annotations
        with joblib.parallel_config(backend="ray", n_jobs=self.workers):
            yield

    def _connected(self) -> Any:
        """The ``ray`` module, connected: on first use (or after the connection it joined was closed by its
        owner) Ray is imported and started or reached."""
        with self._lock:
            if self._ray is None or not self._ray.is_initialized():
                ray = _import_ray(self.url)
                joined = ray.is_initialized()
                if not joined:
                    self._remote.clear()  # remote functions are made again on the new connection
                    self._connect(ray)
                self._ray, self._connected_here = ray, not joined
            return self._ray

    def _connect(self, ray: Any) -> None:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        try:
            if self.url == "ray":
                ray.init(
                    address="local",
                    include_dashboard=False,
                    num_cpus=self._cpus or os.cpu_count(),
                    _node_ip_address="127.0.0.1",
                )
            else:
                _present_token_if_available()
                self._join(ray)
        except Exception as exc:  # Ray raises many kinds (connection, gRPC, auth, runtime): all mean this
            with contextlib.suppress(Exception):  # leave no half-made connection: the process may try again
                ray.shutdown()
            raise ComputeError(_unreachable(self.url, exc)) from exc

    def _join(self, ray: Any) -> None:
        """Reach the cluster at a ``ray://`` URL. The head starts a server of its own for each client, and
        that start sometimes fails at once (its process exits before serving, and the head answers
        "Initialization failure from server"); the cluster is fine, so the join is tried again a few times."""
        for attempt in range(1, JOIN_ATTEMPTS + 1):
            try:
                ray.init(self.url)
                return
            except ConnectionAbortedError:
                if attempt == JOIN_ATTEMPTS:
                    raise
                with contextlib.suppress(Exception):
                    ray.shutdown()

    def _task(self, fn: Callable[..., Any]) -> Any:
        """``fn`` as a Ray remote function (made once per function)."""
        ray = self._connected()
        with self._lock:
            if fn not in self._remote:
                self._remote[fn] = ray.remote(max_retries=self.max_retries)(fn)
            return self._remote[fn]

    def _get(self, fn: Callable[..., R], where: str, ref: Any) -> R:
        try:
            result: R = self._connected().get(ref)
        except Exception as exc:  # the task's own error, whatever it is, becomes a ComputeError naming it
            raise self._error(fn, where, exc) from exc
        return result

    def _error(self, fn: Callable[..., object], where: str, exc: BaseException) -> ComputeError:
        from ray import exceptions

        if worker_death(exc):
            tries = f"after {self.max_retries} retries" if self.max_retries else "with retries off"
            return worker_died(fn, where, f"{type(exc).__name__}, {tries}")
        cause = exc.cause if isinstance(exc, exceptions.RayTaskError) and exc.cause is not None else exc
        return task_failed(fn, where, cause)


def worker_death(exc: BaseException) -> bool:
    """Whether a Ray error says the worker (an actor, or its node) died under the work, killed or out of
    memory, rather than that the work raised."""
    from ray import exceptions

    died = (
        exceptions.WorkerCrashedError,
        exceptions.ActorDiedError,
        exceptions.NodeDiedError,
        exceptions.OutOfMemoryError,
    )
    return isinstance(exc, died)


def _import_ray(url: str) -> ModuleType:
    try:
        import ray
    except ImportError:
        raise ComputeError(
            f"compute is '{url}' but Ray is not installed; install it with pip install 'mlfactory[ray]', "
            "or set compute: local"
        ) from None
    return ray


def _present_token_if_available() -> None:
    """Turn token authentication on for this process when ``RAY_AUTH_MODE`` is unset and a Ray token is at
    hand: what Ray itself does before joining a cluster by its GCS address, and not (as of 2.60) for a
    ``ray://`` client. Ray before 2.52 has no token authentication, so nothing to do there."""
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
    except ImportError:
        return
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def _unreachable(url: str, exc: Exception) -> str:
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if url == "ray":
        return f"could not start a Ray on this machine (compute: ray): {first_line}"
    return (
        f"could not reach the Ray cluster at {url}: {first_line}. Check that it is up (`ray status` on its "
        "head) and that the address is its client port (10001 unless the head set --ray-client-server-port); "
        "a cluster with token authentication also needs its token in RAY_AUTH_TOKEN or ~/.ray/auth_token"
    )
