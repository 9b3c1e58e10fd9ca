"""Plain drift between two data sets: a reference (profiled once) and a current one (counted in chunks)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from mlfactory.config import MonitoringConfig
from mlfactory.data.profile import build_reference
from mlfactory.errors import NotFoundError, ValidationError
from mlfactory.monitoring.drift import column_drift, dataset_drift, window_messages
from mlfactory.monitoring.reference import VersionReference
from mlfactory.monitoring.window_counts import WindowCounts

CHUNK_ROWS = 65_536
TEXT_MIN_CHARS = 40  # a string column whose values average more characters than this is treated as text


def infer_types(frame: pd.DataFrame) -> dict[str, str]:
    """A monitoring type per column: numbers, booleans, long strings as text, other values as categories."""
    types: dict[str, str] = {}
    for name in frame.columns:
        s = frame[name]
        if pd.api.types.is_bool_dtype(s.dtype):
            types[name] = "boolean"
        elif pd.api.types.is_numeric_dtype(s.dtype):
            types[name] = "number"
        elif pd.api.types.is_datetime64_any_dtype(s.dtype):
            continue
        else:
            sample = s.dropna().head(1000).astype("str")
            long = len(sample) and sample.str.len().mean() > TEXT_MIN_CHARS
            types[name] = "text" if long else "category"
    return types


def drift_against(
    reference: Mapping[str, Any], chunks: Iterable[pd.DataFrame], settings: MonitoringConfig | None = None
) -> dict[str, Any]:
    """Drift of a current data set, given as chunks, against a reference from :func:`build_reference`.

    Memory is bounded by one chunk plus the bins: the current data is never held whole.

    Returns:
        ``{"rows", "columns": [ColumnDrift dicts], "dataset": {...}, "messages": [...]}``.
    """
    settings = settings or MonitoringConfig()
    ref = VersionReference.from_json(reference)
    counts = WindowCounts(ref.columns, ref.text)
    present: set[str] = set()
    for chunk in chunks:
        counts.update(chunk)
        present.update(chunk.columns)
    results = column_drift(ref.columns, counts, settings, present=present)
    messages = window_messages(counts.rows, settings, results)
    return {
        "rows": counts.rows,
        "columns": [r.to_json() for r in results],
        "dataset": dataset_drift(results, settings.drift_share).to_json(),
        "messages": messages,
    }


def compare_frames(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    types: Mapping[str, str] | None = None,
    settings: MonitoringConfig | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> dict[str, Any]:
    """Profile ``reference``, then check ``current`` against it in chunks of ``chunk_rows``."""
    types = dict(types or infer_types(reference))
    ref = build_reference(reference, types)
    chunks = (current.iloc[i : i + chunk_rows] for i in range(0, max(len(current), 1), chunk_rows))
    return {**drift_against(ref, chunks, settings), "types": types}


def read_chunks(
    path: Path, columns: list[str] | None = None, chunk_rows: int = CHUNK_ROWS
) -> Iterable[pd.DataFrame]:
    """A Parquet or CSV file as frames of at most ``chunk_rows`` rows."""
    if not path.exists():
        raise NotFoundError(f"file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        # no pre-buffering and no read-ahead threads: Arrow would otherwise hold much of the file at once
        file = pq.ParquetFile(path, pre_buffer=False)
        names = [c for c in (columns or file.schema_arrow.names) if c in file.schema_arrow.names]
        for batch in file.iter_batches(batch_size=chunk_rows, columns=names, use_threads=False):
            yield batch.to_pandas()
    elif suffix == ".csv":
        yield from pd.read_csv(path, chunksize=chunk_rows, usecols=lambda c: columns is None or c in columns)
    else:
        raise ValidationError(f"{path} must end in .parquet or .csv")


def compare_files(
    reference: Path,
    current: Path,
    settings: MonitoringConfig | None = None,
    types: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Drift of the data in ``current`` against ``reference`` (Parquet or CSV); types inferred when None."""
    ref_frame = pd.concat(list(read_chunks(Path(reference))), ignore_index=True)
    if ref_frame.empty:
        raise ValidationError(
            f"the reference {reference} holds no rows; a reference needs data to compare with"
        )
    types = dict(types or infer_types(ref_frame))
    ref = build_reference(ref_frame, types)
    del ref_frame
    result = drift_against(ref, read_chunks(Path(current)), settings)
    return {**result, "types": types, "reference": str(reference), "current": str(current)}
