"""The BentoML side of benchmarks/serving.py: one service, one worker, the same model and the same body.

Started by the benchmark in BentoML's own virtual environment as
``bentoml serve bentoml_service:Classifier --host 127.0.0.1 --port PORT`` with BENCH_MODEL_PATH (the model's
skops file), BENCH_TRUSTED (JSON list of the types it needs trusted) and BENCH_THREADS (native threads, the
same number every server of the benchmark gets) in the environment. The endpoint ``POST /predict`` takes
``{"records": [{column: value, ...}, ...]}`` and answers one ``{"prediction", "probabilities"}`` object per
row.

The API is ``batchable``: BentoML's adaptive batching gathers the rows of concurrent requests into one
predict call, as BentoML's documentation recommends for throughput (and as mlfactory micro-batches). Its
access log is off, as mlfactory's is unless ``--access-log``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import bentoml
import pandas as pd
import skops.io as sio
from threadpoolctl import threadpool_limits

MODEL_PATH = os.environ.get("BENCH_MODEL_PATH", "model.skops")
TRUSTED = json.loads(os.environ.get("BENCH_TRUSTED", "[]"))
THREADS = int(os.environ.get("BENCH_THREADS", "1"))


@bentoml.service(workers=1, logging={"access": {"enabled": False}})  # as `mlfactory serve` (no access log)
class Classifier:
    def __init__(self) -> None:
        threadpool_limits(limits=THREADS)  # BLAS/OpenMP pools, on top of the *_NUM_THREADS variables
        self.model = sio.load(MODEL_PATH, trusted=TRUSTED)
        self.classes = [c.item() if hasattr(c, "item") else c for c in self.model.classes_]

    @bentoml.api(batchable=True, batch_dim=0, max_batch_size=10_000, max_latency_ms=10_000)
    def predict(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        frame = pd.DataFrame.from_records(records)
        proba = self.model.predict_proba(frame)
        return [
            {"prediction": self.classes[i], "probabilities": p}
            for i, p in zip(proba.argmax(axis=1).tolist(), proba.tolist(), strict=True)
        ]
