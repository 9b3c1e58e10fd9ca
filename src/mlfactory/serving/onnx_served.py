"""A version registered for ``serving: {format: onnx}`` answers through ONNX Runtime.

Its graph was made and checked against the model on the version's holdout when it was registered, and its
digest stored in the version's lineage (see :mod:`mlfactory.project.onnx`); the artifact store verifies the
bytes against that digest before the session opens. Everything else is the native path's: the model itself
is loaded too, so the rows are checked by the same spec (its missing-number probe included), batched by the
same micro-batcher, and a failure is logged and answered the same way; only the predict call differs.
"""

from __future__ import annotations

import numpy as np

from mlfactory.config import BatchingConfig
from mlfactory.entities import ModelVersion
from mlfactory.inputs import Batch
from mlfactory.registry import LoadedModel, Registry
from mlfactory.registry.onnx import LINEAGE_KEY, OnnxRunner
from mlfactory.serving.served import ServedVersion


class OnnxServedVersion(ServedVersion):
    """A served version whose predictions and probabilities come from an ONNX Runtime session
    (``intra_op_num_threads`` = ``batching.native_threads``)."""

    def __init__(self, loaded: LoadedModel, graph: bytes, batching: BatchingConfig | None = None) -> None:
        cfg = batching or BatchingConfig()
        self.runner = OnnxRunner(graph, threads=cfg.native_threads)
        super().__init__(loaded, cfg)

    def predict_batch(self, batch: Batch) -> tuple[np.ndarray, np.ndarray | None]:
        """Predictions and class probabilities for checked rows, from the graph (synchronous)."""
        try:
            pred, proba = self.runner.predict(batch.columns)
        except Exception as exc:
            raise self.failed(exc, batch) from None
        if self._class_array is not None and self._class_array.dtype.kind == "i":
            pred = pred.astype(np.int64)  # the classes as the model gives them
        return pred, proba if self.has_proba else None


def served_version(registry: Registry, version: ModelVersion, batching: BatchingConfig) -> ServedVersion:
    """The version ready to serve: through its ONNX graph when it was registered with one, else natively."""
    loaded = registry.load(version)
    record = version.lineage.extra.get(LINEAGE_KEY)
    if not isinstance(record, dict):
        return ServedVersion(loaded, batching)
    return OnnxServedVersion(loaded, registry.artifacts.get_bytes(record["artifact"]), batching)
