"""A process that writes prediction-log segments until it is killed (run by the kill -9 test).

Usage: ``python writer_process.py <url> <endpoint or ''> <rows per segment>``. Prints ``wrote <n>`` after each
segment is in place, so the test knows which segments were complete before it killed the process.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from mlfactory.inputs import Batch
from mlfactory.stores.fs import open_location
from mlfactory.stores.predictions import PredictionLog


def main() -> None:
    url, endpoint, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
    location = open_location(url, Path.cwd(), {"endpoint_url": endpoint} if endpoint else None)
    log = PredictionLog(location)
    rng = np.random.default_rng(9)
    while True:
        ids = log.ids.make(rows)
        log.append(
            model="spam",
            version=1,
            route="production",
            time=time.time(),
            latency_ms=1.0,
            request_ids=ids,
            batch=Batch([f"x{i}" for i in range(8)], matrix=rng.random((rows, 8))),
            predictions=rng.integers(0, 2, rows),
            probabilities=rng.random((rows, 2)),
        )
        log.flush()
        print(f"wrote {rows}", flush=True)


if __name__ == "__main__":
    main()
