"""Where the fate of rows is written: answered rows to the prediction log and the metrics, failed rows to
events, and the log's outages to events. Routed, explicit and shadow answers all go through
:meth:`Recorder.record`, so a row is logged and counted the same way whichever path answered it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mlfactory.errors import MLFactoryError
from mlfactory.inputs import Batch

if TYPE_CHECKING:
    from mlfactory.stores import MetadataStore
    from mlfactory.stores.predictions import PredictionLog
    from mlfactory.stores.predictions.writer import WriteHealth

log = logging.getLogger("mlfactory.serving")
LOG_FAILING = "serving.prediction_log_failing"
LOG_RECOVERED = "serving.prediction_log_recovered"

Observer = Callable[[str, int, str, int], None]  # (model, version, route, rows), e.g. the metrics counters


@dataclass(frozen=True)
class Answered:
    """Rows one version answered on one route."""

    model: str
    version: int
    route: str
    time: float  # epoch seconds when the request arrived
    latency_ms: float
    request_ids: list[str]
    batch: Batch
    predictions: np.ndarray
    probabilities: np.ndarray | None


class Recorder:
    """Records answered rows: appended to the prediction log (when there is one), then told to every observer.

    Args:
        log: the prediction log; None logs nothing (observers are still told).
    """

    def __init__(self, log: PredictionLog | None) -> None:
        self.log = log
        self.observers: list[Observer] = []

    def record(self, answered: Answered) -> None:
        """Log and count one group of answered rows."""
        if self.log is not None:
            self.log.append(
                model=answered.model,
                version=answered.version,
                route=answered.route,
                time=answered.time,
                latency_ms=answered.latency_ms,
                request_ids=answered.request_ids,
                batch=answered.batch,
                predictions=answered.predictions,
                probabilities=answered.probabilities,
            )
        for observe in self.observers:
            observe(answered.model, answered.version, answered.route, answered.batch.n)


class LogOutageEvents:
    """Records the prediction log's outages: one ``serving.prediction_log_failing`` event when writing starts
    failing, one ``serving.prediction_log_recovered`` when it works again, each with the rows held and
    dropped (never one per failed write). A store that refuses the event loses it (the server log and the
    metrics still show the outage).

    Args:
        metadata: where the events go.
        actor: who they are recorded as.
        writer: the writing process's token (:attr:`PredictionLog.writer`), telling a project's replicas
            apart.
    """

    def __init__(self, metadata: MetadataStore, actor: str, writer: str) -> None:
        self.metadata = metadata
        self.actor = actor
        self.writer = writer

    @classmethod
    def watching(cls, log: PredictionLog, metadata: MetadataStore, actor: str) -> LogOutageEvents:
        """Record the outages of ``log`` from now on."""
        events = cls(metadata, actor, log.writer)
        log.watch(events)
        return events

    def __call__(self, health: WriteHealth) -> None:
        """Record one change of the log's write health."""
        payload = {
            "writer": self.writer,
            "since": health.failing_since.isoformat() if health.failing_since else None,
            "error": health.error,
            "failed_writes": health.failed_writes,
            "held_rows": health.held_rows,
            "dropped_rows": health.dropped_rows,
        }
        if health.ok:
            kind = LOG_RECOVERED
            payload["written_rows"] = health.written_rows
            reason = (
                f"the prediction log is written again after {health.failed_writes} failed writes: "
                f"{health.written_rows} held rows written, {health.dropped_rows} dropped"
            )
        else:
            kind = LOG_FAILING
            reason = (
                f"the prediction log cannot be written ({health.error}); predictions are still answered and "
                f"their rows held in memory ({health.held_rows} now)"
            )
        try:
            self.metadata.add_event(kind, actor=self.actor, payload=payload, reason=reason)
        except MLFactoryError as exc:
            log.warning("could not record %s: %s", kind, exc)


class FailureTally:
    """Rows each version failed on, per route, until :meth:`flush` records them as events (so the controller
    compares error rates across every replica).

    Args:
        metadata: where the ``serving.predict_failed`` events go.
        actor: who they are recorded as.
    """

    def __init__(self, metadata: MetadataStore, actor: str) -> None:
        self.metadata = metadata
        self.actor = actor
        self._counts: dict[tuple[str, int, str], int] = {}
        self._lock = threading.Lock()

    def add(self, model: str, version: int, route: str, rows: int) -> None:
        """Count ``rows`` the version failed on."""
        with self._lock:
            key = (model, version, route)
            self._counts[key] = self._counts.get(key, 0) + rows

    def flush(self) -> None:
        """Record the counts since the last flush, one event per version and route, and start again.

        Raises:
            MLFactoryError: the store refused the events (the counts taken are then lost, as a replica's
                counts are when it stops).
        """
        with self._lock:
            counts, self._counts = self._counts, {}
        for (name, version, route), rows in sorted(counts.items()):
            self.metadata.add_event(
                "serving.predict_failed",
                actor=self.actor,
                model=name,
                payload={"version": version, "route": route, "rows": rows},
                reason=f"{name}/{version} failed on {rows} rows ({route})",
            )
