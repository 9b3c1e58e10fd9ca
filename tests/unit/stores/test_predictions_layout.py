"""Writer and readers of the prediction log agree on its layout: folders, columns, types and time zones."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlfactory.config import load_project_config
from mlfactory.stores.fs import StorageLocation, open_location
from mlfactory.stores.predictions import (
    BASE_COLUMNS,
    FIXED_TYPES,
    INPUT_PREFIX,
    VIOLATIONS,
    LogWindow,
    PredictionLog,
    PredictionReader,
    Window,
    open_prediction_log,
    open_prediction_reader,
)


@dataclass(frozen=True)
class Inputs:
    """The inputs of answered rows as the log takes them (what ``mlfactory.inputs.Batch`` provides)."""

    names: tuple[str, ...]
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    matrix: np.ndarray | None = None
    violations: np.ndarray | None = None


@pytest.fixture(params=["folder", "bucket"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Path | StorageLocation:
    """The log's root: a local folder, or a prefix in a bucket on the loopback S3 server."""
    if request.param == "folder":
        return tmp_path / "log"
    bucket = request.getfixturevalue("s3_bucket")
    return open_location(f"{bucket.url}/log", tmp_path, bucket.storage_options)


def _schema(where: Path | StorageLocation, segment: Path | str) -> pa.Schema:
    if isinstance(where, StorageLocation) and not where.local:
        with where.fs.open(str(segment), "rb") as f:
            return pq.read_schema(f)
    return pq.read_schema(segment)


@pytest.fixture
def away_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The machine's time zone is not UTC, so a reader that used it would hand back local times."""
    if not hasattr(time, "tzset"):
        pytest.skip("time zones are set per process only where time.tzset exists")
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _numeric(log: PredictionLog, arrived: float) -> list[str]:
    ids = log.ids.make(3, now=arrived)
    matrix = np.array([[1.0, np.nan], [2.0, 5.0], [3.0, 6.0]])
    log.append(
        model="m",
        version=2,
        route="canary",
        time=arrived,
        latency_ms=2.5,
        request_ids=ids,
        batch=Inputs(("x", "y z"), {"x": matrix[:, 0], "y z": matrix[:, 1]}, matrix),
        predictions=np.array([0, 1, 1]),
        probabilities=np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7]]),
    )
    return ids


def _mixed(log: PredictionLog, arrived: float) -> list[str]:
    ids = log.ids.make(2, now=arrived)
    sent = np.array(["2026-01-31T23:30:00", "2026-02-01T00:15:00"], dtype="datetime64[us]")
    log.append(
        model="m",
        version=3,
        route="production",
        time=arrived,
        latency_ms=4.0,
        request_ids=ids,
        batch=Inputs(
            ("lang", "sent"),
            columns={"lang": np.array(["en", None], dtype=object), "sent": sent},
            violations=np.array([None, ["lang: missing"]], dtype=object),
        ),
        predictions=np.array(["spam", "ham"], dtype=object),
        probabilities=None,
    )
    return ids


def test_reader_reads_back_the_columns_and_types_the_writer_wrote(
    where: Path | StorageLocation, away_from_utc: None
) -> None:
    log = PredictionLog(where)
    arrived = datetime.now(UTC).timestamp()
    numeric = _numeric(log, arrived)
    mixed = _mixed(log, arrived + 0.5)
    assert log.flush() == 5
    [segment] = log.files("m")
    assert str(segment).endswith(f"/log/model=m/date={datetime.now(UTC):%Y-%m-%d}/{Path(segment).name}")
    written = _schema(where, segment)
    inputs = [INPUT_PREFIX + c for c in ("x", "y z", "lang", "sent")]
    assert written.names == [*BASE_COLUMNS, VIOLATIONS, *inputs]
    for name, expected in FIXED_TYPES.items():
        assert written.field(name).type == expected, name
    assert written.field(INPUT_PREFIX + "sent").type == pa.timestamp("us")  # as the model saw it: naive

    frame = PredictionReader(where).query(model="m")  # another process's reader
    assert list(frame.columns) == written.names
    assert frame["request_id"].tolist() == numeric + mixed
    assert str(frame["time"].dt.tz) == "UTC"  # the writer's zone, not the machine's
    assert frame["time"].iloc[0] == pd.Timestamp(int(arrived * 1_000_000), unit="us", tz="UTC")
    assert frame["version"].dtype == np.int32 and frame["latency_ms"].dtype == np.float32
    assert frame["input.x"].tolist()[:3] == [1.0, 2.0, 3.0] and frame["input.x"].iloc[3:].isna().all()
    assert frame["input.y z"].isna().tolist() == [True, False, False, True, True]
    assert frame["input.lang"].iloc[3] == "en" and pd.isna(frame["input.lang"].iloc[4])
    assert frame["input.sent"].iloc[3] == pd.Timestamp("2026-01-31T23:30:00")
    assert frame[VIOLATIONS].iloc[:4].isna().all() and frame[VIOLATIONS].iloc[4] == "lang: missing"
    assert list(frame["probabilities"].iloc[1]) == [0.2, 0.8] and pd.isna(frame["probabilities"].iloc[4])
    assert frame["prediction"].tolist() == ["0", "1", "1", "spam", "ham"]  # mixed label types become text


def test_time_filters_and_windows_read_utc_whatever_zone_they_are_given(
    where: Path | StorageLocation, away_from_utc: None
) -> None:
    log = PredictionLog(where)
    arrived = datetime.now(UTC).replace(microsecond=0).timestamp()
    early = _numeric(log, arrived - 60)
    late = _numeric(log, arrived)
    log.flush()
    reader = PredictionReader(where)
    east = timezone(timedelta(hours=5))
    boundary = datetime.fromtimestamp(arrived, UTC).astimezone(east)  # the same instant, another zone
    assert reader.query(model="m", since=boundary)["request_id"].tolist() == late
    assert reader.query(model="m", until=boundary)["request_id"].tolist() == early
    assert reader.query(model="m", limit=3, newest_first=True)["request_id"].tolist() == late[::-1]

    with LogWindow(reader, "m", Window(last=4)) as window:
        assert window.inputs == ["x", "y z"]  # without the prefix
        [group] = window.groups()
        assert (group["version"], group["route"], group["rows"]) == (2, "canary", 4)
        assert group["last"] == datetime.fromtimestamp(arrived, UTC)
        assert group["last"].utcoffset() == timedelta(0)  # read in UTC, as written
        [(rows, proba)] = list(window.chunks(2, "canary", ["x", "y z"]))
    assert set(rows.schema.names) == {"request_id", "prediction", "x", "y z"}
    assert set(rows["request_id"].to_pylist()) == set(late) | set(early[2:])  # the newest of the early rows
    assert proba is not None and proba.shape == (4, 2)


def test_half_written_segments_are_never_read_and_are_reported(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "log")
    ids = _numeric(log, datetime.now(UTC).timestamp())
    log.flush()
    [segment] = log.files()
    stray = segment.parent / (".tmp-" + segment.name)
    stray.write_bytes(segment.read_bytes()[:20])  # a writer killed mid-write
    reader = PredictionReader(tmp_path / "log")
    assert reader.files() == [segment] and reader.leftovers() == [stray]
    assert reader.query()["request_id"].tolist() == ids
    assert reader.known_request_ids([*ids, "other"]) == dict.fromkeys(ids, "m")


def test_the_project_opens_one_log_for_its_writers_and_readers(tmp_path: Path) -> None:
    (tmp_path / "mlfactory.yaml").write_text(
        "name: demo\n"
        "server:\n"
        "  prediction_log: {path: shared/preds, flush_interval: 0.5, max_pending_rows: 5000}\n"
    )
    loaded = load_project_config(tmp_path, env={})
    writer = open_prediction_log(loaded)
    reader = open_prediction_reader(loaded)
    assert writer.root == reader.root == tmp_path.resolve() / "shared" / "preds"
    assert (writer.flush_interval, writer.max_pending_rows) == (0.5, 5000)
    own = loaded.config.server.prediction_log.model_copy(update={"flush_interval": 0.1})
    assert open_prediction_log(loaded, own).flush_interval == 0.1  # a server started with its own settings
    ids = _numeric(writer, datetime.now(UTC).timestamp())
    writer.flush()
    assert reader.query()["request_id"].tolist() == ids


def test_a_project_log_on_a_bucket_is_one_log_for_writers_and_readers(tmp_path: Path, s3_bucket: Any) -> None:
    endpoint = s3_bucket.storage_options["endpoint_url"]
    (tmp_path / "mlfactory.yaml").write_text(
        "name: demo\n"
        f"stores: {{storage_options: {{endpoint_url: '{endpoint}'}}}}\n"
        f"server: {{prediction_log: {{path: '{s3_bucket.url}/preds'}}}}\n"
    )
    loaded = load_project_config(tmp_path, env={})
    writer = open_prediction_log(loaded)
    reader = open_prediction_reader(loaded)
    assert writer.root == reader.root == f"{s3_bucket.url}/preds"
    ids = _numeric(writer, datetime.now(UTC).timestamp())
    writer.flush()
    assert reader.query()["request_id"].tolist() == ids
    [segment] = reader.files("m", datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC))
    assert isinstance(segment, str) and segment.startswith(f"{s3_bucket.url}/preds/model=m/date=")
    assert reader.files("m", datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 1, 2, tzinfo=UTC)) == []
    assert not list(tmp_path.rglob("*.parquet"))  # nothing on the local disk


def test_a_time_window_lists_and_reads_only_the_date_folders_it_needs(
    where: Path | StorageLocation, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlfactory.stores.predictions.layout import day_dir, model_dir, segment_name

    log = PredictionLog(where)
    for day in (1, 5, 9):  # three days of one model, one row each
        stamp = datetime(2026, 3, day, 12, tzinfo=UTC)
        table = pa.table(
            {
                "request_id": [f"r{day}"],
                "time": pa.array([stamp], FIXED_TYPES["time"]),
                "model": ["m"],
                "version": pa.array([1], pa.int32()),
                "route": ["production"],
            }
        )
        folder = log.tree.path(model_dir("m"), day_dir(stamp.date()))
        log.tree.put_table(folder, segment_name(int(stamp.timestamp() * 1000), "t", 0), table)
    listed: list[str] = []
    real = log.tree.names
    monkeypatch.setattr(log.tree, "names", lambda folder: listed.append(folder) or real(folder))
    since = datetime(2026, 3, 5, 10, tzinfo=UTC)
    frame = log.query(model="m", since=since, until=since + timedelta(hours=4))
    assert frame["request_id"].tolist() == ["r5"]
    days = {f.rsplit("/", 1)[-1] for f in listed if "date=" in f}
    assert days == {"date=2026-03-05"}  # the model's folder is listed, and only the one day inside it


def test_only_repeating_text_is_dictionary_encoded(tmp_path: Path) -> None:
    """Model, route and categories repeat and are dictionary-encoded; request ids and numbers never repeat,
    where a dictionary only costs time and size."""
    log = PredictionLog(tmp_path / "log")
    _mixed(log, datetime.now(UTC).timestamp())
    log.flush()
    [segment] = log.files("m")
    meta = pq.ParquetFile(segment).metadata.row_group(0)
    encodings = {meta.column(i).path_in_schema: meta.column(i).encodings for i in range(meta.num_columns)}
    dictionary = {name for name, used in encodings.items() if any("DICTIONARY" in e for e in used)}
    assert {"model", "route", INPUT_PREFIX + "lang"} <= dictionary
    assert not dictionary & {"request_id", "latency_ms", "time", INPUT_PREFIX + "x"}
