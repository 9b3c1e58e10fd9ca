"""Adaptive micro-batching: concurrent requests to one model version share one predict call.

Each served version owns one predict thread. Requests queue their checked rows and await a future; the
thread takes everything that queued while it was busy (up to ``max_rows``), predicts once and splits the
answer. At concurrency 1 nothing waits: a lone request is predicted as soon as the thread is free. Only when
the previous batch held several requests (so others are likely on their way) does the thread wait up to
``max_wait`` seconds for more, never longer. A batch whose predict fails is retried request by request, so
one bad request cannot fail the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from mlfactory.inputs import Batch

log = logging.getLogger("mlfactory.serving")
PredictFn = Callable[[Batch], tuple[np.ndarray, np.ndarray | None]]


def _post(
    loop: asyncio.AbstractEventLoop, fut: asyncio.Future[Any], result: Any, error: BaseException | None
) -> None:
    with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting any more
        loop.call_soon_threadsafe(_deliver, fut, result, error)


def _deliver(fut: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if fut.done():  # the client went away
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(result)


class MicroBatcher:
    """One predict thread per model version, batching what queues while it is busy.

    Args:
        fn: predicts a batch, returning (predictions, probabilities or None).
        max_rows: the most rows one predict call takes (a single larger request still runs alone).
        max_wait: seconds to wait for more requests, only while requests are arriving concurrently.
        name: for the thread's name.
    """

    def __init__(
        self,
        fn: PredictFn,
        *,
        max_rows: int = 512,
        max_wait: float = 0.0,
        name: str = "model",
        threads: int | None = None,
    ) -> None:
        self.fn = fn
        self.threads = threads
        self.max_rows = max_rows
        self.max_wait = max_wait
        self._queue: deque[tuple[Batch, asyncio.Future[Any], asyncio.AbstractEventLoop]] = deque()
        self._cv = threading.Condition()
        self._closed = False
        self._last_size = 1
        self.batches = 0
        self.requests = 0
        self._thread = threading.Thread(target=self._run, name=f"predict-{name}", daemon=True)
        self._thread.start()

    async def submit(self, batch: Batch) -> tuple[np.ndarray, np.ndarray | None]:
        """Predict ``batch`` together with whatever else is queued; runs inline after :meth:`close`."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        with self._cv:
            if self._closed:
                return await asyncio.to_thread(self.fn, batch)
            self._queue.append((batch, fut, loop))
            self._cv.notify()
        return await fut  # type: ignore[no-any-return]

    def close(self, timeout: float = 10.0) -> None:
        """Finish what is queued, then stop the thread."""
        with self._cv:
            self._closed = True
            self._cv.notify()
        self._thread.join(timeout)

    def _take(self) -> list[tuple[Batch, asyncio.Future[Any], asyncio.AbstractEventLoop]] | None:
        with self._cv:
            while not self._queue:
                if self._closed:
                    return None
                self._cv.wait()
            if self.max_wait > 0 and self._last_size > 1:
                deadline = time.monotonic() + self.max_wait
                while sum(b.n for b, _, _ in self._queue) < self.max_rows:
                    left = deadline - time.monotonic()
                    if left <= 0 or self._closed:
                        break
                    self._cv.wait(left)
            taken = [self._queue.popleft()]
            rows = taken[0][0].n
            while self._queue and rows + self._queue[0][0].n <= self.max_rows:
                item = self._queue.popleft()
                rows += item[0].n
                taken.append(item)
            return taken

    def _run(self) -> None:
        if self.threads is None:
            self._serve()
            return
        with threadpool_limits(limits=self.threads):  # OpenMP limits hold per thread: set them here
            self._serve()

    def _serve(self) -> None:
        while True:
            taken = self._take()
            if taken is None:
                return
            self._last_size = len(taken)
            self.batches += 1
            self.requests += len(taken)
            if len(taken) == 1:
                self._one(*taken[0])
                continue
            try:
                pred, proba = self.fn(Batch.concat([b for b, _, _ in taken]))
            except Exception:  # one request may be at fault: answer each on its own
                for item in taken:
                    self._one(*item)
                continue
            start = 0
            for batch, fut, loop in taken:
                end = start + batch.n
                part = (pred[start:end], None if proba is None else proba[start:end])
                _post(loop, fut, part, None)
                start = end

    def _one(self, batch: Batch, fut: asyncio.Future[Any], loop: asyncio.AbstractEventLoop) -> None:
        try:
            result = self.fn(batch)
        except Exception as exc:
            _post(loop, fut, None, exc)
            return
        _post(loop, fut, result, None)
