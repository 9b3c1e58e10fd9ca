"""Batch scoring keeps memory flat as the input grows: the peak of a run over 4N rows is within a bound of
the peak over N rows that loading the whole input could not meet (the bound comes from the input's size in
memory, not from a clock)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from project_helpers import set_model, trained_project

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads the peak from /proc/self/status")

N = 200_000
NUMBERS = ["n_links", "n_attachments", "hour_sent"]
FILLER = 20  # pass-through float columns, so the input's size is well above the process's own noise

# The child's peak resident memory. Not getrusage's ru_maxrss: on Linux it survives fork and exec, so a
# child started by a big parent (pytest, after building the inputs) reports at least the parent's size.
# VmHWM is the peak of the child's own address space.
CHILD = """
import sys
from mlfactory.project import open_project
root, src, dst = sys.argv[1:]
with open_project(root, env={}, actor="test") as project:
    rows = project.predict_file("spam", src, dst)["rows"]
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(rows, peak * 1024)  # kB
"""


def numeric_only(root: Path) -> None:
    """The spam model on its number columns only (a purely numeric model), with a gate it passes."""
    set_model(root, features={"numeric": NUMBERS}, gates=[{"metric": "accuracy", "min": 0.0}])


def write_input(path: Path, rows: int) -> int:
    """A Parquet file of ``rows`` valid rows in row groups of 50,000; returns its size in memory."""
    rng = np.random.default_rng(rows)
    columns = {
        "n_links": rng.integers(0, 20, rows),
        "n_attachments": rng.integers(0, 5, rows),
        "hour_sent": rng.integers(0, 24, rows),
        **{f"x{i}": rng.random(rows) for i in range(FILLER)},
    }
    table = pa.table(columns)
    pq.write_table(table, path, row_group_size=50_000)
    return int(table.nbytes)


def peak(root: Path, src: Path, dst: Path) -> tuple[int, int]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), str(src), str(dst)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rows, rss = done.stdout.split()
    return int(rows), int(rss)


def test_peak_memory_stays_flat_from_n_to_4n_rows(tmp_path: Path) -> None:
    root = trained_project(tmp_path / "p", prepare=numeric_only, variant="numeric-only")
    small, large = tmp_path / "small.parquet", tmp_path / "large.parquet"
    small_bytes, large_bytes = write_input(small, N), write_input(large, 4 * N)
    rows_small, peak_small = peak(root, small, tmp_path / "out-small")
    rows_large, peak_large = peak(root, large, tmp_path / "out-large")
    assert (rows_small, rows_large) == (N, 4 * N)
    # holding the whole input would add at least its growth in memory (3N rows); streaming adds ~nothing
    bound = (large_bytes - small_bytes) // 2
    assert peak_large - peak_small < bound, (peak_small, peak_large, bound)
