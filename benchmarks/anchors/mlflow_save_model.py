"""Save the benchmarked scikit-learn model as an MLflow model: run inside MLflow's own virtual environment.

Usage: python mlflow_save_model.py MODEL.skops TRUSTED.json SAMPLE.csv OUT_DIR

The model is the exact estimator mlfactory registered (its skops bytes), saved the way an MLflow user would:
``mlflow.sklearn.save_model`` with skops serialization, the trusted types it needs, and an inferred signature
(so ``mlflow models serve`` checks the input schema, as mlfactory's server does).
"""

from __future__ import annotations

import json
import sys

import mlflow.sklearn
import pandas as pd
import skops.io as sio
from mlflow.models import infer_signature


def main() -> None:
    model_path, trusted_path, sample_path, out_dir = sys.argv[1:5]
    with open(trusted_path) as f:
        trusted = json.load(f)
    model = sio.load(model_path, trusted=trusted)
    sample = pd.read_csv(sample_path)
    mlflow.sklearn.save_model(
        model,
        out_dir,
        serialization_format="skops",
        skops_trusted_types=trusted or None,
        signature=infer_signature(sample, model.predict(sample)),
    )
    print(json.dumps({"version": mlflow.__version__, "path": out_dir}))


if __name__ == "__main__":
    main()
