"""The BentoML side of benchmarks/serving.py: one service, one worker, the same model and the same body.

Started by the benchmark in BentoML's own virtual environment as
``bentoml serve bentoml_service:Classifier --host 127.0.0.1 --port PORT`` with BENCH_MODEL_PATH (the model's
skops file) and BENCH_TRUSTED (JSON list of the types it needs trusted) in the environment. The endpoint
``POST /predict`` takes ``{"records": [{column: value, ...}, ...]}`` and answers with the predicted classes
and the class probabilities, like mlfactory's native endpoint.
"""

from __future__ import annotations

import json
import os
from typing import Any

import bentoml
import pandas as pd
import skops.io as sio

MODEL_PATH = os.environ.get("BENCH_MODEL_PATH", "model.skops")
TRUSTED = json.loads(os.environ.get("BENCH_TRUSTED", "[]"))


@bentoml.service(workers=1)
class Classifier:
    def __init__(self) -> None:
        self.model = sio.load(MODEL_PATH, trusted=TRUSTED)
        self.classes = [c.item() if hasattr(c, "item") else c for c in self.model.classes_]

    @bentoml.api
    def predict(self, records: list[dict[str, float]]) -> dict[str, Any]:
        frame = pd.DataFrame.from_records(records)
        proba = self.model.predict_proba(frame)
        return {
            "predictions": [self.classes[i] for i in proba.argmax(axis=1)],
            "probabilities": proba.tolist(),
        }
