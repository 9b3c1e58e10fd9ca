"""A window's slices read where the window is go through the window's DuckDB database (no new one to open):
the same rows as a fresh connection reads, and the database's settings as they were."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from log_helpers import log_request
from mlfactory.inputs import Batch
from mlfactory.stores.predictions import LogWindow, PredictionLog, PredictionReader, Window
from mlfactory.stores.predictions.window import read_part


def _log(where: Path) -> PredictionReader:
    log = PredictionLog(where)
    for start in (0, 3):
        values = np.arange(start, start + 3, dtype=np.float64)
        batch = Batch(["x"], columns={"x": values})
        log_request(
            log, batch, (values % 2).astype(np.int64), np.column_stack([values / 10, 1 - values / 10])
        )
        log.flush()  # two files
    log.close()
    return PredictionReader(where)


def test_a_slice_read_through_the_window_gives_the_rows_a_fresh_connection_gives(tmp_path: Path) -> None:
    with LogWindow(_log(tmp_path / "log"), "m", Window(seconds=3600)) as lw:
        settings = "SELECT current_setting('threads'), current_setting('TimeZone')"
        before = lw.con.execute(settings).fetchall()
        [part] = lw.parts(1, "production", ["x"])
        shared = list(read_part(part, chunk_rows=4, con=lw.con))
        assert lw.con.execute(settings).fetchall() == before  # one thread while reading, then given back
        through_window = list(lw.chunks(1, "production", ["x"], chunk_rows=4))
    fresh = list(read_part(part, chunk_rows=4))
    assert len(fresh) == len(shared) == len(through_window) == 2
    for (a, pa_), (b, pb), (c, pc) in zip(fresh, shared, through_window, strict=True):
        assert a.equals(b) and a.equals(c)
        np.testing.assert_array_equal(pa_, pb)
        np.testing.assert_array_equal(pa_, pc)
    assert sorted(x for f, _ in fresh for x in f["x"].to_pylist()) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
