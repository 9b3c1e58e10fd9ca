"""The executor: where the heavy work runs, chosen by the project's ``compute`` URL.

``local`` is this machine's processes; ``ray`` starts a Ray cluster on loopback on demand;
``ray://host:10001`` connects to an existing one. Every user of heavy work (search trials, batch scoring,
monitoring windows, materialization) goes through this small interface, so the same code gives the same
results on one machine and on a cluster.

Work sent through :meth:`Executor.map` and :meth:`Executor.submit` is a module-level function with
plain arguments (settings, artifact digests, paths or URLs); workers read models and data from the
artifact store by digest and verify them. Nothing else is pickled across.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager
from typing import TypeVar

from mlfactory.errors import ComputeError

T = TypeVar("T")
R = TypeVar("R")
H = TypeVar("H")


class Executor(ABC):
    """Runs functions over items, here or on a cluster; one per opened project."""

    #: the ``compute`` URL this executor was opened from (no secrets: a host and port at most)
    url: str

    @property
    @abstractmethod
    def workers(self) -> int:
        """How many items run at once (CPUs of this machine or of the cluster)."""

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``[fn(item) for item in items]``, in order, run in parallel; the first failure (by position) is
        raised as a :class:`~mlfactory.errors.ComputeError` naming the item's position (results of the
        others are dropped, and items not yet finished are cancelled)."""
        return list(self.imap(fn, items))

    @abstractmethod
    def imap(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[R]:
        """Like :meth:`map`, yielding results in order as they complete, so a caller can stream them. At
        most two items per worker are started ahead of the one being waited for, so a long input does not
        hold every result in memory at once; stopping early cancels what is still running."""

    @abstractmethod
    def submit(self, fn: Callable[..., R], *args: object) -> Future[R]:
        """Start ``fn(*args)`` in the background; the future holds its result, or its error as a
        :class:`~mlfactory.errors.ComputeError` (the worker's own error as its ``__cause__``)."""

    @abstractmethod
    def joblib_backend(self) -> AbstractContextManager[None]:
        """A context in which scikit-learn's own ``n_jobs`` parallelism runs on this executor."""

    @abstractmethod
    def close(self) -> None:
        """Release workers (and a cluster this executor started); idempotent."""


def run_ordered(
    start: Callable[[T], H],
    finish: Callable[[int, H], R],
    cancel: Callable[[H], object],
    items: Sequence[T],
    ahead: int,
) -> Iterator[R]:
    """Start ``items`` at most ``ahead`` beyond the one being waited for and finish them in order (``finish``
    gets each item's position, to name it in an error); whatever is still running when iteration stops
    (an error, or a caller that stopped reading) is cancelled."""
    pending: deque[tuple[int, H]] = deque()
    try:
        for position, item in enumerate(items):
            pending.append((position, start(item)))
            if len(pending) >= ahead:
                yield finish(*pending.popleft())
        while pending:
            yield finish(*pending.popleft())
    finally:
        for _, handle in pending:
            cancel(handle)


def task_failed(fn: Callable[..., object], where: str, exc: BaseException) -> ComputeError:
    """The error for a task that raised: which function, on which item, and the worker's error."""
    return ComputeError(f"{_name(fn)} failed {where}: {type(exc).__name__}: {exc}")


def worker_died(fn: Callable[..., object], where: str, detail: str) -> ComputeError:
    """The error for a task whose worker process died under it (killed, or out of memory)."""
    return ComputeError(
        f"the worker running {_name(fn)} {where} died ({detail}); it was killed or ran out of memory. "
        "Give each task less data or the workers more memory, then run it again"
    )


#: how an error names the task of :meth:`Executor.submit`
SUBMITTED = "as a submitted task"


def item_where(position: int, count: int) -> str:
    """How an error names an item: its 0-based position among all of them."""
    return f"on item {position} (0-based) of {count}"


def chained(source: Future[R], convert: Callable[[BaseException], ComputeError]) -> Future[R]:
    """A future with ``source``'s result, or its error converted; cancelling it cancels ``source``."""
    target: Future[R] = Future()

    def copy(done: Future[R]) -> None:
        if target.done():  # cancelled by its holder
            return
        if done.cancelled():
            target.cancel()
        elif (exc := done.exception()) is not None:
            error = convert(exc)
            error.__cause__ = exc
            target.set_exception(error)
        else:
            target.set_result(done.result())

    target.add_done_callback(lambda f: f.cancelled() and source.cancel())
    source.add_done_callback(copy)
    return target


def _name(fn: Callable[..., object]) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)
