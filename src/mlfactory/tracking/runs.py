"""Logging to a run, one value at a time or in batches."""

from __future__ import annotations

import os
import socket
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from mlfactory.entities import Metric, Run, RunStatus
from mlfactory.stores.metadata import MetadataStore


class ActiveRun:
    """A run being recorded. Metric calls write through; use :meth:`log_metrics` for many values at once."""

    def __init__(self, store: MetadataStore, run_id: str) -> None:
        self.store = store
        self.id = run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.store.log_params(self.id, dict(params))

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self.store.set_tags(self.id, {k: str(v) for k, v in tags.items()})

    def log_metric(self, key: str, value: float, step: int = 0) -> None:
        self.store.log_metrics(self.id, [Metric(key, float(value), step, time.time())])

    def log_metrics(self, metrics: Mapping[str, float] | Sequence[Metric], step: int = 0) -> None:
        """Log many values in one transaction: a mapping (all at ``step``) or a sequence of Metric."""
        ts = time.time()
        if isinstance(metrics, Mapping):
            batch = [Metric(k, float(v), step, ts) for k, v in metrics.items()]
        else:
            batch = [m if m.timestamp else Metric(m.key, m.value, m.step, ts) for m in metrics]
        self.store.log_metrics(self.id, batch)

    def log_artifact(self, name: str, digest: str) -> None:
        self.store.log_artifact(self.id, name, digest)

    def get(self) -> Run:
        return self.store.get_run(self.id)


@contextmanager
def start_run(
    store: MetadataStore,
    name: str,
    *,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    environment: Mapping[str, Any] | None = None,
    dataset_id: str | None = None,
) -> Iterator[ActiveRun]:
    """Record a run for the duration of the block: finished on success, failed with the error otherwise.

    The run's environment also records the host and process id that run it, so a run whose process was
    killed before it could say so can be found later (:func:`reap_runs`).
    """
    run_id = store.create_run(
        name,
        params=dict(params or {}),
        tags=dict(tags or {}),
        environment={**(environment or {}), "host": socket.gethostname(), "pid": os.getpid()},
        dataset_id=dataset_id,
    )
    run = ActiveRun(store, run_id)
    try:
        yield run
    except BaseException as exc:
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        store.end_run(run_id, RunStatus.FAILED, error=detail)
        raise
    store.end_run(run_id, RunStatus.FINISHED)


def process_gone(host: object, pid: object) -> bool:
    """Whether the process ``pid`` that ran on ``host`` provably no longer exists: only a process of this
    host can be checked, so one elsewhere (or an unreadable record) is never called gone."""
    if host != socket.gethostname() or not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # someone else's process: it exists
        return False
    return False


def reap_runs(store: MetadataStore) -> list[str]:
    """Mark failed every run still ``running`` whose process, on this host, no longer exists (killed, out of
    memory, the machine restarted); returns their ids. Runs started on other hosts are left as they are."""
    host = socket.gethostname()
    reaped = []
    for run in store.list_runs(status=RunStatus.RUNNING):
        pid = run.environment.get("pid")
        if not process_gone(run.environment.get("host"), pid):
            continue
        store.end_run(
            run.id,
            RunStatus.FAILED,
            error=f"its process (pid {pid} on {host}) ended without finishing the run",
        )
        reaped.append(run.id)
    return reaped
