"""Batch scoring with MLflow's ``mlflow.pyfunc.spark_udf`` on a local Spark, run inside the Spark anchor's
venv (pyspark, MLflow and the scikit-learn mlfactory uses, from the package index; Java 17 on the machine).

Usage:
    python spark_udf.py train TRAIN.csv MODEL_DIR
    python spark_udf.py score MODEL_DIR INPUT_FOLDER OUTPUT_FOLDER MAX_RECORDS_PER_BATCH

``train`` fits the spam pipeline with ``mlflow_batch_predict.train`` (the same steps and parameters as
mlfactory's) on the rows in ``TRAIN.csv`` (the caller passes the training part mlfactory's model was fitted
on) and saves it with ``mlflow.sklearn.save_model``, its pyfunc answering ``predict_proba`` (so one pass over
the rows gives the class probabilities; the predicted class is the most probable one, ties to the first class,
as scikit-learn's logistic regression decides).

``score`` starts a local Spark (master ``local[2]``, driver memory 2g, the UI off, bound to 127.0.0.1, Arrow
on; a pandas UDF always exchanges Arrow batches of ``spark.sql.execution.arrow.maxRecordsPerBatch`` rows),
reads the Parquet folder, adds ``prediction`` and one ``proba_<class>`` column per class from
``spark_udf(..., env_manager="local")`` over a struct of the model's inputs, and writes every input column
and those to a Parquet folder. It prints one JSON line: the session's start-up seconds, the job's seconds
(from building the UDF to the write's return, when the last file is committed), rows written and versions.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from typing import Any

import pandas as pd
from mlflow_batch_predict import train as fit_and_save


def train(train_csv: str, model_dir: str) -> None:
    """The spam pipeline fitted on ``train_csv`` and saved to ``model_dir``, its pyfunc ``predict_proba``."""
    import mlflow.sklearn
    import skops.io as sio
    from mlflow.models import infer_signature

    with tempfile.TemporaryDirectory() as tmp:
        fit_and_save(train_csv, f"{tmp}/model")
        model = mlflow.sklearn.load_model(f"{tmp}/model")
    sample = pd.read_csv(train_csv, nrows=20)[model.feature_names_in_]
    mlflow.sklearn.save_model(
        model,
        model_dir,
        pyfunc_predict_fn="predict_proba",
        signature=infer_signature(sample, model.predict_proba(sample)),
        skops_trusted_types=sio.get_untrusted_types(data=sio.dumps(model)),
    )


def session(max_records: int) -> Any:
    """A local Spark with the settings the module docstring states (a ``SparkSession``)."""
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable  # the Python workers run in this venv too
    return (
        SparkSession.builder.master("local[2]")
        .appName("mlflow-spark-udf-anchor")
        .config("spark.driver.memory", "2g")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(max_records))
        .config("spark.sql.legacy.parquet.nanosAsLong", "true")  # pandas' nanosecond timestamps
        .config("spark.executorEnv.OMP_NUM_THREADS", "1")
        .config("spark.executorEnv.OPENBLAS_NUM_THREADS", "1")
        .config("spark.executorEnv.MKL_NUM_THREADS", "1")
        .getOrCreate()
    )


def score(model_dir: str, input_folder: str, output_folder: str, max_records: str) -> None:
    """Score the Parquet folder into a Parquet folder with ``spark_udf``; print the timings as JSON."""
    import mlflow
    import mlflow.pyfunc
    import mlflow.sklearn
    import pyspark
    from pyspark.sql import functions as F

    model = mlflow.sklearn.load_model(model_dir)  # only to read its inputs and classes, before the clock
    inputs, classes = list(model.feature_names_in_), [int(c) for c in model.classes_]
    t0 = time.perf_counter()
    spark = session(int(max_records))
    spark.sparkContext.setLogLevel("ERROR")
    t1 = time.perf_counter()
    udf = mlflow.pyfunc.spark_udf(spark, model_dir, result_type="array<double>", env_manager="local")
    frame = spark.read.parquet(input_folder)
    proba = udf(F.struct(*[F.col(c) for c in inputs]))
    best = F.array_position(proba, F.array_max(proba)).cast("int")  # 1-based, the first of equal maxima
    scored = frame.withColumn("_proba", proba).select(
        *frame.columns,
        F.element_at(F.array(*[F.lit(c) for c in classes]), best).alias("prediction"),
        *[F.col("_proba")[i].alias(f"proba_{c}") for i, c in enumerate(classes)],
    )
    scored.write.parquet(output_folder)
    t2 = time.perf_counter()
    partitions = frame.rdd.getNumPartitions()
    spark.stop()
    print(
        json.dumps(
            {
                "mlflow": mlflow.__version__,
                "pyspark": pyspark.__version__,
                "partitions": partitions,
                "session_s": t1 - t0,
                "job_s": t2 - t1,
            }
        )
    )


if __name__ == "__main__":
    if sys.argv[1] == "train":
        train(*sys.argv[2:4])
    else:
        score(*sys.argv[2:6])
