"""``compute: local``: this machine's CPUs, through a pool of worker processes.

Processes, not threads: the heavy work (fitting models, scoring, profiling) is CPU-bound Python that holds
the GIL, so threads would run it one at a time. Workers start with ``spawn`` (a fresh interpreter, as on
macOS and Windows and as on a Ray worker), never ``fork`` (which copies the parent's threads and open
connections): work is a module-level function and plain arguments, pickled across, so what runs here runs
on Ray unchanged. The pool starts on first use and lives until :meth:`LocalExecutor.close`, so each
worker's imports are paid once.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import AbstractContextManager
from typing import cast

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


class LocalExecutor(Executor):
    """Runs work in ``workers`` processes of this machine (its CPU count unless given)."""

    def __init__(self, workers: int | None = None) -> None:
        self.url = "local"
        self._workers = workers or os.cpu_count() or 1
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    @property
    def workers(self) -> int:
        return self._workers

    def imap(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[R]:
        pool = self._running()
        count = len(items)
        return run_ordered(
            lambda item: _submit(pool, fn, item),
            lambda position, future: self._result(fn, item_where(position, count), future, pool),
            Future.cancel,
            items,
            2 * self._workers,
        )

    def submit(self, fn: Callable[..., R], *args: object) -> Future[R]:
        pool = self._running()
        return chained(_submit(pool, fn, *args), lambda exc: self._error(fn, SUBMITTED, exc, pool))

    def joblib_backend(self) -> AbstractContextManager[None]:
        """joblib's own default, loky: its reusable worker processes, ``workers`` of them unless the caller
        sets ``n_jobs``."""
        import joblib

        return cast(AbstractContextManager[None], joblib.parallel_config(backend="loky", n_jobs=self.workers))

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None

    def _running(self) -> ProcessPoolExecutor:
        """The pool, started on first use (and again after a worker died, which breaks a process pool)."""
        with self._lock:
            if self._pool is None:
                context = multiprocessing.get_context("spawn")
                self._pool = ProcessPoolExecutor(max_workers=self._workers, mp_context=context)
            return self._pool

    def _result(self, fn: Callable[..., R], where: str, future: Future[R], pool: ProcessPoolExecutor) -> R:
        try:
            return future.result()
        except Exception as exc:  # the task's own error, whatever it is, becomes a ComputeError naming it
            raise self._error(fn, where, exc, pool) from exc

    def _error(
        self, fn: Callable[..., object], where: str, exc: BaseException, pool: ProcessPoolExecutor
    ) -> ComputeError:
        if isinstance(exc, BrokenProcessPool):
            self._discard(pool)
            return worker_died(fn, where, "its process ended abruptly")
        return task_failed(fn, where, exc)

    def _discard(self, pool: ProcessPoolExecutor) -> None:
        """Drop a pool broken by a dead worker (it takes no more work); the next call starts a new one."""
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)


def _submit(pool: ProcessPoolExecutor, fn: Callable[..., R], *args: object) -> Future[R]:
    """``fn(*args)`` on ``pool``; a pool already broken by a dead worker gives a failed future, so the error
    reaches the caller where every task's does (named, and the pool replaced)."""
    try:
        return pool.submit(fn, *args)
    except BrokenProcessPool as exc:
        failed: Future[R] = Future()
        failed.set_exception(exc)
        return failed
