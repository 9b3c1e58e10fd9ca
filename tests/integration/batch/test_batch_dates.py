"""CSV inputs with date-time columns in batch scoring: a value that is no date-time is a bad row named by its
place (under ``--on-bad-rows fail|skip|report``), never a failed batch nor a silent NaT; a time with an
offset is scored as the UTC instant it names, one without an offset as UTC."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlfactory.entities import Signature
from mlfactory.errors import ValidationError
from mlfactory.inputs import InputSpec
from mlfactory.project import open_project
from mlfactory.project.batch import open_place, score_dataset
from project_helpers import trained_project

SIGNATURE = Signature.from_json(
    {"inputs": [{"name": "a", "type": "number"}, {"name": "when", "type": "datetime", "nullable": False}]}
)
ROWS = 200
# bad dates past the first chunk and past the rows a CSV reader would infer a column's type from
BAD_DATES = {70: "not a date", 131: "2024-13-45", 190: None}
# the same instant written three ways, and one without an offset (taken as UTC)
WRITTEN = {
    0: ("2024-05-01T14:30:00+02:00", "2024-05-01T12:30:00Z"),
    1: ("2024-05-01T12:30:00Z", "2024-05-01T12:30:00Z"),
    2: ("2024-05-01T07:30:00-05:00", "2024-05-01T12:30:00Z"),
    3: ("2024-05-01 11:59:59", "2024-05-01T11:59:59Z"),
    4: ("2024-05-02", "2024-05-02T00:00:00Z"),
}


class AfternoonUTC:
    """A stand-in estimator: class 1 for a time at or after noon UTC (so a time zone read wrong shows)."""

    classes_ = np.array([0, 1])

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        return (pd.to_datetime(x["when"], utc=True).dt.hour >= 12).to_numpy().astype(np.int64)

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        p = self.predict(x).astype(float)
        return np.column_stack([1 - p, p])


def stand_in() -> Any:
    return SimpleNamespace(
        spec=InputSpec(SIGNATURE),
        estimator=AfternoonUTC(),
        classes=[0, 1],
        version=SimpleNamespace(ref="m/1"),
    )


def dated_rows() -> pd.DataFrame:
    """Rows with hourly times in mixed spellings (offsets, Z, none), and a few that are no date-time."""
    times = pd.date_range("2024-05-01T00:00:00Z", periods=ROWS, freq="37min")
    when: list[str | None] = [
        t.tz_convert("Europe/Berlin").isoformat() if i % 3 == 0 else t.strftime("%Y-%m-%d %H:%M:%S")
        for i, t in enumerate(times)
    ]
    for i, (text, _) in WRITTEN.items():
        when[i] = text
    for i, text in BAD_DATES.items():
        when[i] = text
    return pd.DataFrame({"id": range(ROWS), "a": np.arange(ROWS) / 10, "when": when})


def expected_times(frame: pd.DataFrame) -> pd.Series:
    truth = pd.Series(pd.date_range("2024-05-01T00:00:00Z", periods=ROWS, freq="37min"))
    for i, (_, utc) in WRITTEN.items():
        truth[i] = pd.Timestamp(utc)
    return truth.drop(index=list(BAD_DATES))


def check_scored(scored: pd.DataFrame, frame: pd.DataFrame) -> None:
    truth = expected_times(frame)
    assert scored["id"].tolist() == truth.index.tolist()
    assert str(scored["when"].dt.tz) == "UTC"
    assert (scored["when"].reset_index(drop=True) == truth.reset_index(drop=True)).all()
    assert scored["prediction"].tolist() == (truth.dt.hour >= 12).astype(int).tolist()


def check_report(report: pd.DataFrame) -> None:
    assert report["_row"].tolist() == list(BAD_DATES)
    assert report["_row_in_file"].tolist() == list(BAD_DATES)
    assert report["id"].tolist() == list(BAD_DATES)
    assert report["when"].tolist()[:2] == ["not a date", "2024-13-45"]  # the text as it was read
    reasons = report["_reason"].tolist()
    assert "column 'when' (datetime): 'not a date' is not a date-time" in reasons[0]
    assert "'2024-13-45' is not a date-time" in reasons[1]
    assert "when" in reasons[2] and "not nullable" in reasons[2]  # empty: missing, and this column needs one


@pytest.mark.parametrize("mode", ["fail", "skip", "report"])
def test_bad_dates_in_a_csv_are_bad_rows(tmp_path: Path, mode: str) -> None:
    frame = dated_rows()
    frame.to_csv(tmp_path / "in.csv", index=False)
    source, target = open_place("in.csv", tmp_path), open_place("out.parquet", tmp_path)
    if mode == "fail":
        with pytest.raises(ValidationError, match=r"row 70 of the input \(.*in\.csv, row 70\).*'not a date'"):
            score_dataset(stand_in(), source, target, on_bad_rows="fail", batch_rows=64)
        assert not (tmp_path / "out.parquet").exists()
        return
    result = score_dataset(stand_in(), source, target, on_bad_rows=mode, batch_rows=64)  # type: ignore[arg-type]
    assert (result.rows_in, result.bad_rows, result.rows_scored) == (ROWS, 3, ROWS - 3)
    check_scored(pd.read_parquet(tmp_path / "out.parquet"), frame)
    if mode == "report":
        check_report(pd.read_parquet(tmp_path / "out.rejected.parquet"))
    else:
        assert not (tmp_path / "out.rejected.parquet").exists()


def test_a_csv_on_a_bucket_with_bad_dates(tmp_path: Path, s3_bucket: Any) -> None:
    import s3fs

    frame = dated_rows()
    bucket = s3fs.S3FileSystem(**s3_bucket.storage_options, use_listings_cache=False)
    with bucket.open(f"{s3_bucket.name}/in/dates.csv", "wb") as f:
        f.write(frame.to_csv(index=False).encode())
    options = s3_bucket.storage_options
    source = open_place(f"{s3_bucket.url}/in/dates.csv", tmp_path, options)
    target = open_place(f"{s3_bucket.url}/out", tmp_path, options)
    result = score_dataset(stand_in(), source, target, on_bad_rows="report", batch_rows=64)
    assert (result.rows_scored, result.bad_rows) == (ROWS - 3, 3)
    scored = pd.concat(pd.read_parquet(bucket.open(p)) for p in sorted(bucket.ls(f"{s3_bucket.name}/out")))
    check_scored(scored.reset_index(drop=True), frame)
    with bucket.open(f"{s3_bucket.name}/out.rejected.parquet") as f:
        check_report(pd.read_parquet(f))


def test_a_feature_service_join_time_that_is_no_date_is_a_bad_row(tmp_path: Path) -> None:
    """The model's timestamp column, where its features are joined point-in-time: a bad or empty time is a
    bad row; the other rows get the features of their own time, as one whole-frame join gives them."""
    root = trained_project(tmp_path / "p", feature_service=True, materialize=True)
    with open_project(root, env={}, actor="test") as project:
        frame = pd.read_csv(root / "data" / "emails.csv").head(300)
        bad = {40: "yesterday", 160: "2024-02-30T10:00:00", 250: None}
        written = frame.astype({"sent_at": object})
        for i, text in bad.items():
            written.loc[i, "sent_at"] = text
        written.to_csv(tmp_path / "in.csv", index=False)
        summary = project.predict_file("spam", tmp_path / "in.csv", tmp_path / "out.parquet", batch_rows=64)
        assert (summary["rows_in"], summary["bad_rows"]) == (300, 3)
        report = pd.read_parquet(tmp_path / "out.rejected.parquet")
        assert report["_row"].tolist() == list(bad)
        assert "'yesterday' is not a date-time" in report["_reason"].iloc[0]
        assert "sent_at" in report["_reason"].iloc[2] and "empty" in report["_reason"].iloc[2]
        good = frame.drop(index=list(bad)).reset_index(drop=True)
        good["sent_at"] = pd.to_datetime(good["sent_at"], utc=True)
        model = project.registry.load("spam@production")
        whole = model.predict_frame(project._with_store_features(model.version, good))
        scored = pd.read_parquet(tmp_path / "out.parquet")
        assert scored["message_id"].tolist() == good["message_id"].tolist()
        assert scored["prediction"].tolist() == whole["prediction"].tolist()
        np.testing.assert_allclose(scored["proba_1"].to_numpy(), whole["proba_1"].to_numpy())
        with pytest.raises(ValidationError, match=r"row 40 of the input .*'yesterday'"):
            project.predict_file("spam", tmp_path / "in.csv", tmp_path / "f.parquet", on_bad_rows="fail")
