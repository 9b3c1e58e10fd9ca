"""Batch scoring with an MLflow pyfunc model: run inside MLflow's own virtual environment.

Usage:
    python mlflow_batch_predict.py train EMAILS.csv MODEL_DIR
    python mlflow_batch_predict.py predict MODEL_DIR INPUT.parquet OUTPUT.parquet

``train`` fits the scikit-learn pipeline mlfactory builds for the quickstart's spam model (median-imputed,
standardized numbers; one-hot categories with ``min_frequency=2``; a word 1–2-gram TF-IDF of at most 50,000
terms per text column; ``LogisticRegression(C=4.0, max_iter=2000)``) on the same generated emails, without the
feature store's per-domain features (MLflow has no feature store), and saves it with
``mlflow.sklearn.save_model`` (its default skops format, trusting the types the model holds) and an inferred
signature.

``predict`` does what ``mlflow models predict`` does with a file: reads the whole input into one pandas frame,
loads the model with ``mlflow.pyfunc.load_model`` and predicts on the frame; the predictions are written to
Parquet. It prints one JSON line: seconds per step, rows, and the process's peak RSS (``VmHWM``).
"""

from __future__ import annotations

import json
import sys
import time

import pandas as pd

NUMERIC = ["n_links", "n_attachments", "hour_sent"]
CATEGORICAL = ["sender_domain", "language"]
TEXT = ["subject", "body"]


def train(emails_csv: str, model_dir: str) -> None:
    import mlflow.sklearn
    import skops.io as sio
    from mlflow.models import infer_signature
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame = pd.read_csv(emails_csv)
    features = frame[NUMERIC + CATEGORICAL + TEXT]
    for column in CATEGORICAL + TEXT:
        features[column] = features[column].fillna("").astype(str)
    columns = ColumnTransformer(
        [
            ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), NUMERIC),
            (
                "categorical",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="missing"),
                    OneHotEncoder(handle_unknown="ignore", min_frequency=2),
                ),
                CATEGORICAL,
            ),
            *[
                (f"text_{c}", TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=50_000), c)
                for c in TEXT
            ],
        ]
    )
    model = Pipeline(
        [("columns", columns), ("model", LogisticRegression(C=4.0, max_iter=2000, random_state=42))]
    )
    model.fit(features, frame["is_spam"])
    sample = features.head(20)
    mlflow.sklearn.save_model(
        model,
        model_dir,
        signature=infer_signature(sample, model.predict(sample)),
        skops_trusted_types=sio.get_untrusted_types(data=sio.dumps(model)),  # MLflow's default format
    )
    print(json.dumps({"version": mlflow.__version__, "rows": len(frame)}))


def peak_rss() -> int:
    """This process's peak resident memory (``VmHWM``; ``ru_maxrss`` would include its parent's at fork)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))


def predict(model_dir: str, input_parquet: str, output_parquet: str) -> None:
    import mlflow
    import mlflow.pyfunc

    t0 = time.perf_counter()
    frame = pd.read_parquet(input_parquet)
    t1 = time.perf_counter()
    model = mlflow.pyfunc.load_model(model_dir)
    t2 = time.perf_counter()
    predictions = model.predict(frame)
    t3 = time.perf_counter()
    pd.DataFrame({"prediction": predictions}).to_parquet(output_parquet, index=False)
    t4 = time.perf_counter()
    print(
        json.dumps(
            {
                "version": mlflow.__version__,
                "rows": len(frame),
                "read_s": t1 - t0,
                "load_s": t2 - t1,
                "predict_s": t3 - t2,
                "write_s": t4 - t3,
                "seconds": t4 - t0,
                "peak_rss_bytes": peak_rss(),
            }
        )
    )


if __name__ == "__main__":
    if sys.argv[1] == "train":
        train(*sys.argv[2:4])
    else:
        predict(*sys.argv[2:5])
