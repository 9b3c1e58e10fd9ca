"""Shadow scoring: a version answers every routed row in the background, logged but never returned.

A shadow never affects the real answer: it runs after the answer is made, its failures are counted and
logged, and when ``server.shadow_queue`` shadow predictions are already running a new one is skipped
(counted) rather than queued without bound.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from mlfactory.inputs import Batch, OnInvalid, Payload
from mlfactory.serving.prepare import Preparer
from mlfactory.serving.recording import Answered, Recorder
from mlfactory.serving.served import ServedVersion

log = logging.getLogger("mlfactory.serving")


@dataclass(frozen=True)
class ShadowJob:
    """What a shadow needs of the request its model's live versions just answered."""

    payload: Payload
    primary: ServedVersion  # the version whose checked rows ``full`` are
    full: Batch | None  # the whole request checked once, when it was (reused if the shadow takes the same)
    request_ids: list[str]
    time: float  # epoch seconds when the request arrived
    on_invalid: OnInvalid = "reject"


class ShadowScorer:
    """Runs shadow predictions as background tasks and records their answers like any other.

    Args:
        prepare: completes and checks the rows for the shadow version.
        recorder: where the shadow's answered rows go (route ``shadow``).
        queue: the most shadow predictions running at once; more are skipped.
    """

    def __init__(self, prepare: Preparer, recorder: Recorder, queue: int) -> None:
        self.prepare = prepare
        self.recorder = recorder
        self.queue = queue
        self.skipped = 0
        self.failed = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, shadow: ServedVersion, job: ShadowJob) -> None:
        """Score ``job`` with ``shadow`` in the background (on the running loop), or skip it when full."""
        if len(self._tasks) >= self.queue:
            self.skipped += 1
            return
        task = asyncio.get_running_loop().create_task(self.score(shadow, job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def score(self, shadow: ServedVersion, job: ShadowJob) -> None:
        """Predict the job's rows with the shadow and record them; a failure is counted, never raised."""
        t0 = time.perf_counter()
        try:
            if job.full is not None and shadow.same_inputs(job.primary):
                batch = job.full
            else:
                batch = await self.prepare.checked(shadow, job.payload, job.on_invalid)
            pred, proba = await shadow.predict(batch)
        except Exception as exc:  # a shadow never affects the real answer
            self.failed += 1
            log.warning("shadow %s failed: %s", shadow.ref, exc)
            return
        latency = (time.perf_counter() - t0) * 1000
        self.recorder.record(
            Answered(
                shadow.name, shadow.number, "shadow", job.time, latency, job.request_ids, batch, pred, proba
            )
        )

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait (bounded) for shadow predictions still running."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)
