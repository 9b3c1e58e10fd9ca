"""A process writing the prediction log, killed with SIGKILL mid-write: readers see whole segments only, on a
local folder and on a bucket."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mlfactory.stores.fs import StorageLocation, open_location
from mlfactory.stores.predictions import PredictionReader

pytestmark = pytest.mark.slow
ROWS = 50_000  # a few MB per segment: the kill lands while one is being built or put


@pytest.fixture(params=["folder", "bucket"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(url, endpoint) of the log: a local folder, or a prefix in a bucket on the loopback S3 server."""
    if request.param == "folder":
        return str(tmp_path / "log"), ""
    bucket = request.getfixturevalue("s3_bucket")
    return f"{bucket.url}/log", bucket.storage_options["endpoint_url"]


def _objects(location: StorageLocation) -> list[str]:
    """Every file under the log, whatever its name (a partial object would show here)."""
    fs = location.fs
    fs.invalidate_cache()
    return sorted(fs.find(location.root))


def test_kill_minus_9_while_writing_leaves_only_whole_segments(
    where: tuple[str, str], tmp_path: Path
) -> None:
    url, endpoint = where
    script = Path(__file__).with_name("writer_process.py")
    proc = subprocess.Popen(
        [sys.executable, str(script), url, endpoint, str(ROWS)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    confirmed = 0
    for line in proc.stdout:  # kill once three segments are confirmed: the fourth is in flight
        confirmed += int(line.split()[1])
        if confirmed >= 3 * ROWS:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL

    location = open_location(url, tmp_path, {"endpoint_url": endpoint} if endpoint else None)
    reader = PredictionReader(location)
    files = reader.files()
    segments = [f for f in _objects(location) if f.rsplit("/", 1)[-1].startswith("part-")]
    assert len(files) == len(segments)  # readers read every whole segment, and nothing else of the log
    for f in segments:  # each visible segment is whole: a full Parquet file with every row of its flush
        with location.fs.open(f, "rb") as handle:
            assert pq.read_metadata(handle).num_rows == ROWS
    rows = len(reader.query(model="spam"))
    assert rows == ROWS * len(segments) and rows >= confirmed
    if not location.local:
        assert _objects(location) == segments  # a bucket holds no temporary or partial object at all
