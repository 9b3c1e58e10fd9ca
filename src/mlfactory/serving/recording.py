"""Where the fate of rows is written: answered rows to the prediction log and the metrics, failed rows to
events. Routed, explicit and shadow answers all go through :meth:`Recorder.record`, so a row is logged and
counted the same way whichever path answered it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mlfactory.inputs import Batch

if TYPE_CHECKING:
    from mlfactory.stores import MetadataStore
    from mlfactory.stores.predictions import PredictionLog

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
