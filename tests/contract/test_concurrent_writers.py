"""Two processes writing at once must not corrupt or lose anything, on every backend."""

import subprocess
import sys

from mlfactory.stores import open_metadata_store

RUNS_PER_WRITER = 15
VERSIONS_PER_WRITER = 10


WRITER = """
import sys
from mlfactory.entities import Metric, VersionStatus
from mlfactory.stores import open_metadata_store
url, tag = sys.argv[1], sys.argv[2]
RUNS_PER_WRITER, VERSIONS_PER_WRITER = int(sys.argv[3]), int(sys.argv[4])
store = open_metadata_store(url)
for i in range(RUNS_PER_WRITER):
    run_id = store.create_run(tag, params={"i": i})
    store.log_metrics(run_id, [Metric("m", float(s), s, 0.0) for s in range(50)])
for _ in range(VERSIONS_PER_WRITER):
    v = store.create_model_version(
        "shared", status=VersionStatus.READY, run_id=None, artifact="a" * 64, flavor="skops",
        signature={}, metrics={}, gates=[], profile={}, lineage={"writer": tag}, card="",
    )
    store.move_alias("shared", f"latest-{tag}", v.version, kind="alias.set", actor=tag, reason="")
store.close()
"""


def test_two_processes_write_at_once(metadata_url: str) -> None:
    open_metadata_store(metadata_url).close()  # migrate once up front, as a server start would
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRITER,
                metadata_url,
                f"w{i}",
                str(RUNS_PER_WRITER),
                str(VERSIONS_PER_WRITER),
            ]
        )
        for i in range(2)
    ]
    for p in procs:
        assert p.wait(timeout=300) == 0
    store = open_metadata_store(metadata_url)
    runs = store.list_runs()
    assert len(runs) == 2 * RUNS_PER_WRITER
    assert all(len(store.metric_history(r.id, "m")) == 50 for r in runs)
    versions = store.list_model_versions("shared")
    assert [v.version for v in versions] == list(range(1, 2 * VERSIONS_PER_WRITER + 1))
    assert (
        sorted(v.lineage.extra["writer"] for v in versions)  # a key Lineage does not name
        == ["w0"] * VERSIONS_PER_WRITER + ["w1"] * VERSIONS_PER_WRITER
    )
    moves = store.list_events(kinds=["alias.set"])
    assert len(moves) == 2 * VERSIONS_PER_WRITER
    store.close()
