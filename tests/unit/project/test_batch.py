"""Streaming batch scoring's parts, without a trained model: row positions across files and row groups,
finding every bad row of a batch, the output's all-or-nothing files, and a run with a stand-in model."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlfactory.entities import Signature
from mlfactory.errors import ConflictError, ValidationError
from mlfactory.inputs import InputSpec
from mlfactory.project import batch
from mlfactory.project.batch import ScoreProgress, check_rows, open_place, rejected_path, score_dataset

SIGNATURE = Signature.from_json(
    {
        "inputs": [
            {"name": "a", "type": "number", "min": 0, "max": 10},
            {"name": "k", "type": "category", "nullable": False},
        ]
    }
)


class Threshold:
    """A stand-in estimator: class 1 when ``a`` is over 5."""

    classes_ = np.array([0, 1])

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        return (x["a"].to_numpy() > 5).astype(np.int64)

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        p = (x["a"].to_numpy() > 5).astype(float)
        return np.column_stack([1 - p, p])


def stand_in() -> Any:
    return SimpleNamespace(
        spec=InputSpec(SIGNATURE),
        estimator=Threshold(),
        classes=[0, 1],
        version=SimpleNamespace(ref="m/1"),
    )


def write_files(folder: Path, sizes: list[int], row_group: int) -> pd.DataFrame:
    """Parquet files of the given sizes (``a`` counts rows over all files, so every row is known)."""
    folder.mkdir(parents=True, exist_ok=True)
    frames, start = [], 0
    for i, n in enumerate(sizes):
        frame = pd.DataFrame(
            {"a": np.arange(start, start + n) % 10 + 0.5, "k": "x", "id": range(start, start + n)}
        )
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), folder / f"f{i}.parquet", row_group)
        frames.append(frame)
        start += n
    return pd.concat(frames, ignore_index=True)


def test_chunks_know_each_row_s_place_in_the_input_and_in_its_file(tmp_path: Path) -> None:
    write_files(tmp_path / "in", [25, 7, 30], row_group=10)
    (tmp_path / "in" / "_SUCCESS").write_text("")  # markers and hidden files are not data
    (tmp_path / "in" / ".f9.parquet").write_text("")
    place = open_place(tmp_path / "in", tmp_path)
    dataset = batch.open_input(place, InputSpec(SIGNATURE))
    chunks = list(batch._chunks(dataset, 12, str))
    for chunk in chunks:  # the first row's id is its place in the whole input
        assert chunk.table.column("id")[0].as_py() == chunk.first
        assert chunk.table.num_rows <= 12
    assert [(Path(c.file).name, c.first_in_file) for c in chunks] == [
        ("f0.parquet", 0),
        ("f0.parquet", 10),
        ("f0.parquet", 20),
        ("f1.parquet", 0),
        ("f2.parquet", 0),
        ("f2.parquet", 10),
        ("f2.parquet", 20),
    ]


def test_check_rows_finds_every_bad_row_with_its_reason() -> None:
    spec = InputSpec(SIGNATURE)
    frame = pd.DataFrame({"a": [1.0] * 40, "k": ["x"] * 40})
    frame = frame.astype({"a": object, "k": object})
    frame.loc[3, "a"] = "many"
    frame.loc[17, "k"] = None
    frame.loc[18, "a"] = 11
    frame.loc[39, "a"] = float("inf")
    checked, good, bad = check_rows(spec, frame)
    assert [i for i, _ in bad] == [3, 17, 18, 39]
    assert checked is not None and checked.n == len(good) == 36 and 3 not in good
    reasons = [r for _, r in bad]
    assert reasons[0] == "column 'a' (number): 'many' is not a number"
    assert "row" not in reasons[1] and "not nullable" in reasons[1]
    assert "above the declared maximum 10" in reasons[2] and "infinity" in reasons[3]
    with pytest.raises(ValidationError, match=r"missing input column\(s\) \['k'\]"):
        check_rows(spec, frame.drop(columns=["k"]))


def test_rejected_rows_go_beside_the_output() -> None:
    assert rejected_path("/o/scored.parquet") == "/o/scored.rejected.parquet"
    assert rejected_path("/o/scored.CSV") == "/o/scored.rejected.parquet"
    assert rejected_path("bucket/out/") == "bucket/out.rejected.parquet"


def test_a_run_with_a_stand_in_model(tmp_path: Path) -> None:
    frame = write_files(tmp_path / "in", [30, 30], row_group=8)
    seen: list[ScoreProgress] = []
    result = score_dataset(
        stand_in(),
        open_place(tmp_path / "in", tmp_path),
        open_place("out.parquet", tmp_path),  # relative to the base given
        batch_rows=16,
        progress=seen.append,
    )
    scored = pd.read_parquet(tmp_path / "out.parquet")
    assert (result.rows_in, result.rows_scored, result.bad_rows, result.rejected) == (60, 60, 0, None)
    assert result.parts == (str(tmp_path / "out.parquet"),)
    assert scored["id"].tolist() == frame["id"].tolist()
    assert scored["prediction"].tolist() == (frame["a"] > 5).astype(int).tolist()
    assert scored.columns.tolist()[-4:] == ["prediction", "proba_0", "proba_1", "model_version"]
    assert seen[-1].rows_in == 60 and seen[-1].total_rows == 60 and seen[-1].rows_per_second > 0
    assert result.to_dict()["rows"] == 60


def test_a_failed_run_leaves_no_output_and_no_temporary_file(tmp_path: Path) -> None:
    frame = write_files(tmp_path / "in", [20, 20], row_group=5).astype({"a": object})
    frame.loc[33, "a"] = -1.0
    pq.write_table(
        pa.Table.from_pandas(frame.iloc[20:], preserve_index=False), tmp_path / "in" / "f1.parquet"
    )
    for out in ("parts", "one.parquet"):
        with pytest.raises(
            ValidationError, match=r"row 33 of the input \(.*f1.parquet, row 13\): column 'a'"
        ):
            score_dataset(
                stand_in(),
                open_place(tmp_path / "in", tmp_path),
                open_place(tmp_path / out, tmp_path),
                on_bad_rows="fail",
                batch_rows=4,
            )
        assert not list((tmp_path / out).glob("*")) if out == "parts" else not (tmp_path / out).exists()
    assert not [p for p in tmp_path.rglob(".tmp-*")]


def test_a_folder_output_never_mixes_with_an_earlier_run(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "part-00000.parquet").write_bytes(b"")
    with pytest.raises(ConflictError, match="already holds part files"):
        batch._Output.open(open_place(tmp_path / "out", tmp_path))
    (tmp_path / "file").write_text("")
    with pytest.raises(ValidationError, match="is a file"):
        batch._Output.open(open_place(tmp_path / "file", tmp_path))


def test_bad_settings_are_refused(tmp_path: Path) -> None:
    write_files(tmp_path / "in", [3], row_group=3)
    place = open_place(tmp_path / "in", tmp_path)
    with pytest.raises(ValidationError, match="on_bad_rows must be one of fail, skip, report"):
        score_dataset(stand_in(), place, place, on_bad_rows=cast(Any, "ignore"))
    with pytest.raises(ValidationError, match="batch_rows must be at least 1"):
        score_dataset(stand_in(), place, place, batch_rows=0)
    (tmp_path / "mixed").mkdir()
    (tmp_path / "mixed" / "a.csv").write_text("a,k\n1,x\n")
    (tmp_path / "mixed" / "b.parquet").write_bytes(b"")
    with pytest.raises(ValidationError, match="mixes Parquet and CSV"):
        batch.open_input(open_place(tmp_path / "mixed", tmp_path), InputSpec(SIGNATURE))


def test_when_every_row_is_bad_no_output_claims_rows(tmp_path: Path) -> None:
    frame = write_files(tmp_path / "in", [6], row_group=6).assign(a=-1.0)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "in" / "f0.parquet")
    (tmp_path / "out.parquet").write_bytes(b"an earlier run's")
    result = score_dataset(
        stand_in(), open_place(tmp_path / "in", tmp_path), open_place(tmp_path / "out.parquet", tmp_path)
    )
    assert (result.rows_in, result.rows_scored, result.bad_rows, result.parts) == (6, 0, 6, ())
    assert not (tmp_path / "out.parquet").exists()
    assert pd.read_parquet(tmp_path / "out.rejected.parquet")["_row"].tolist() == list(range(6))
