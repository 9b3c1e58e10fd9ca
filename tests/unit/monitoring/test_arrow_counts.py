"""A window counted from the Arrow batches the prediction log is read as gives the counts the same rows give
as a pandas frame (how they were counted before): numbers, booleans, text in a number column, categories in
the order new ones are named, text views; labels are joined to rows by request id. And counting a slice of
the log never imports pandas."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from log_helpers import log_request
from mlfactory.data.profile import build_reference
from mlfactory.inputs import Batch
from mlfactory.monitoring.partial import LabelLookup
from mlfactory.monitoring.reference import VersionReference
from mlfactory.monitoring.window_counts import MAX_NEW_CATEGORIES, WindowCounts
from mlfactory.stores.predictions import PredictionLog

TYPES = {"x": "number", "n": "integer", "b": "number", "s": "number", "cat": "category", "code": "category"}
TYPES["body"] = "text"
WORDS = ["offer", "free", "Meeting", "notes", "prize", "été", "x_1", "42"]


def _frame(rng: np.random.Generator, rows: int, new: int) -> pd.DataFrame:
    x = rng.normal(size=rows)
    x[rng.random(rows) < 0.1] = np.nan
    cats = rng.choice(["a", "b", "c"], rows).astype(object)
    cats[:new] = [f"new{i // 2}" for i in range(new)]  # pairs of new values: ties in count
    cats[rng.random(rows) < 0.05] = None
    docs = [" ".join(rng.choice(WORDS, rng.integers(0, 9))) for _ in range(rows)]
    return pd.DataFrame(
        {
            "x": x,
            "n": rng.integers(0, 5, rows),
            "b": rng.random(rows) < 0.3,
            "s": rng.choice(["1.5", "2", "x", " 3 "], rows),
            "cat": cats,
            "code": rng.choice([1, 2, 7], rows),
            "body": [None if rng.random() < 0.05 else d for d in docs],
        }
    )


def _state(counts: WindowCounts) -> dict[str, object]:
    """Every count, as comparable values (categories in the order they were named)."""
    numeric = {
        name: {k: np.asarray(v).tolist() for k, v in dataclasses.asdict(acc).items()}
        for name, acc in counts.numeric.items()
    }
    categorical = {
        name: (list(cat.counts.items()), cat.nulls, cat.new, cat.seen)
        for name, cat in counts.categorical.items()
    }
    return {"rows": counts.rows, "numeric": numeric, "categorical": categorical}


def test_an_arrow_batch_counts_as_its_pandas_frame() -> None:
    rng = np.random.default_rng(3)
    ref = VersionReference.from_json(build_reference(_frame(rng, 2000, 0), TYPES))
    batch = pa.RecordBatch.from_pandas(_frame(rng, 3000, 2 * MAX_NEW_CATEGORIES + 200), preserve_index=False)
    batch = batch.slice(7)  # buffers that start before the batch does
    arrow, frame = WindowCounts(ref.columns, ref.text), WindowCounts(ref.columns, ref.text)
    arrow.update(batch)
    frame.update(batch.to_pandas())
    assert arrow.numeric["x"].nulls > 0 and arrow.numeric["s"].n > 0  # NaN and text coerced to numbers
    assert "__new_other__" in arrow.categorical["cat"].counts  # named new values ran out, in one order
    assert arrow.numeric["body.oov_rate"].n > 0
    assert _state(arrow) == _state(frame)


def test_labels_join_rows_by_request_id() -> None:
    lookup = LabelLookup.of({"r1": "spam", "r3": 0, "r9": None})
    joined = lookup.join(pa.array(["r3", "r2", None, "r1", "r9", "r1"]))
    assert joined is not None and joined.tolist() == [0, None, None, "spam", None, "spam"]
    assert lookup.join(pa.array(["r2", "r4"])) is None


COUNT_A_SLICE = """
import json, sys
from mlfactory.monitoring.partial import CountSpec, count_group
from mlfactory.monitoring.reference import VersionReference
from mlfactory.stores.predictions import LogWindow, PredictionReader, Window
ref = VersionReference.from_json(json.loads(open(sys.argv[2]).read()))
with LogWindow(PredictionReader(sys.argv[1]), "m", Window(seconds=3600)) as lw:
    parts = lw.parts(1, "production", ["x", "cat", "body"])
    counts = count_group(CountSpec(ref, (0, 1), labels={sys.argv[3]: 1}), parts, con=lw.con)
assert counts.features.rows == 50 and counts.perf.realized.labelled == 1
print("pandas" in sys.modules)
"""


def test_counting_a_slice_of_the_log_never_imports_pandas(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    frame = _frame(rng, 50, 0)
    (tmp_path / "ref.json").write_text(json.dumps(build_reference(frame, TYPES)))
    log = PredictionLog(tmp_path / "log")
    columns = {
        "x": frame["x"].to_numpy(),
        "cat": frame["cat"].to_numpy(),
        "body": frame["body"].to_numpy(),
    }
    batch = Batch(["x", "cat", "body"], columns=columns)
    ids = log_request(log, batch, rng.integers(0, 2, 50), np.full((50, 2), 0.5))
    log.close()
    args = [str(tmp_path / "log"), str(tmp_path / "ref.json"), ids[3]]
    out = subprocess.run([sys.executable, "-c", COUNT_A_SLICE, *args], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
