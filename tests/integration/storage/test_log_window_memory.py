"""Reading a window of the prediction log from a bucket holds a few segments' bytes at a time, not the
window's.

The log's segments are on the loopback S3 server. What the read holds is measured with tracemalloc, which
sees every byte fetched from the bucket (the filesystem hands them to DuckDB, or to a local copy, as Python
bytes). A read that kept what it fetched (a read-ahead cache per open file, say) would hold the whole
window, and more.
"""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlfactory.inputs import Batch
from mlfactory.stores.fs import StorageLocation, open_location
from mlfactory.stores.predictions import LogWindow, PredictionLog, PredictionReader, Window
from mlfactory.stores.predictions.window import read_part

pytest.importorskip("moto.server")
pytest.importorskip("s3fs")

SEGMENTS = 24
ROWS = 2_000  # per segment, one slice each (parts of ROWS rows)
TEXT_BYTES = 500  # random bytes per row, as hex text: about 1 MB of Parquet per segment


def _write(location: StorageLocation) -> None:
    """SEGMENTS segments of ROWS rows of one model, with a text input that does not compress away."""
    rng = np.random.default_rng(7)
    log = PredictionLog(location)
    for _ in range(SEGMENTS):
        text = np.array([rng.bytes(TEXT_BYTES).hex() for _ in range(ROWS)], dtype=object)
        log.append(
            model="spam",
            version=1,
            route="production",
            time=datetime.now(UTC).timestamp(),
            latency_ms=1.0,
            request_ids=log.ids.make(ROWS),
            batch=Batch(["body", "x"], columns={"body": text, "x": rng.random(ROWS)}),
            predictions=np.zeros(ROWS, dtype=np.int64),
            probabilities=np.tile([0.75, 0.25], (ROWS, 1)),
        )
        log.flush()
    log.close()


def _read(location: StorageLocation, window: Window, peaks: list[int]) -> dict[str, Any]:
    """Monitoring's read of the window (its groups, then every slice in chunks), appending to ``peaks``
    the most bytes held while reading each slice beyond what was held before it (while tracing)."""
    rows = 0
    with LogWindow(PredictionReader(location), "spam", window) as lw:
        (group,) = lw.groups()
        parts = lw.parts(1, "production", lw.inputs, part_rows=ROWS)
        for part in parts:
            before = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            for frame, _ in read_part(part, chunk_rows=500):
                rows += len(frame)
            peaks.append(tracemalloc.get_traced_memory()[1] - before)
    return {"rows": rows, "group_rows": group["rows"], "parts": len(parts)}


def test_a_bucket_window_is_read_a_slice_at_a_time(s3_bucket: Any, tmp_path: Path) -> None:
    location = open_location(f"{s3_bucket.url}/log", tmp_path, s3_bucket.storage_options)
    _write(location)
    sizes = [location.fs.size(str(f)) for f in PredictionReader(location).files("spam")]
    window = Window(seconds=3600, until=datetime.now(UTC) + timedelta(seconds=1))
    _read(location, window, [])  # once untraced: first-use imports and caches are not the read's
    slices: list[int] = []
    tracemalloc.start()
    try:
        read = _read(location, window, slices)
        whole = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(sizes) == read["parts"] == SEGMENTS
    assert read["rows"] == read["group_rows"] == SEGMENTS * ROWS
    # a slice holds less than its own file (a local copy is written in pieces), never the window's
    assert max(slices) < max(sizes), f"a slice of {max(sizes)} bytes held {max(slices)} bytes"
    # the whole read (the window's queries included) holds a few files at once, however many there are
    assert whole < sum(sizes) / 4, f"reading {sum(sizes)} bytes of files held {whole} bytes at once"
