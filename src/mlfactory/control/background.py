"""Retrains in background threads of the controller's process (:class:`~mlfactory.control.steps.ports.
Retrains`).

A thread, not the project's executor: the retrain writes its run, version and events through the
controller's own stores, which are safe to share between threads (the SQL store opens a session per call on
a thread-safe engine; the in-memory store and the prediction log reader lock their state), and the project's
configuration is only read. The retrain's own heavy work (a parameter search's trials) still goes to the
project's executor. The thread is a daemon: a controller that exits leaves its retrain behind like a killed
one, and the next controller fails it as abandoned.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future

from mlfactory.config import PolicyConfig
from mlfactory.control.steps.ports import Trained, Trainer
from mlfactory.errors import ConflictError


class BackgroundRetrains:
    """The retrains one controller started, by model, until their outcome is recorded."""

    def __init__(self) -> None:
        self._jobs: dict[str, Future[Trained]] = {}
        self._lock = threading.Lock()

    def start(self, name: str, policy: PolicyConfig, train: Trainer) -> Future[Trained]:
        job: Future[Trained] = Future()
        with self._lock:
            if name in self._jobs:
                raise ConflictError(f"a retrain of '{name}' is already running in this controller")
            self._jobs[name] = job

        def work() -> None:
            job.set_running_or_notify_cancel()
            try:
                job.set_result(train(name, policy))
            except Exception as exc:  # the step records whatever broke
                job.set_exception(exc)

        threading.Thread(target=work, name=f"mlfactory-retrain-{name}", daemon=True).start()
        return job

    def job(self, name: str) -> Future[Trained] | None:
        with self._lock:
            return self._jobs.get(name)

    def collect(self, name: str) -> None:
        with self._lock:
            self._jobs.pop(name, None)

    def running(self) -> dict[str, Future[Trained]]:
        """Every retrain not collected yet, by model."""
        with self._lock:
            return dict(self._jobs)
