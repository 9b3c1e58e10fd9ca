"""Runs whose process died without ending them are found and marked failed; live and remote ones are not."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mlfactory.entities import RunStatus
from mlfactory.stores import open_metadata_store
from mlfactory.tracking import reap_runs, start_run

KILLED = """
import os, signal, sys
from mlfactory.stores import open_metadata_store
from mlfactory.tracking import start_run
store = open_metadata_store(sys.argv[1])
with start_run(store, "killed") as run:
    print(run.id, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # no chance to end the run
"""


def test_a_killed_process_leaves_a_run_that_is_reaped(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    proc = subprocess.run([sys.executable, "-c", KILLED, url], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    killed = proc.stdout.split()[0]
    store = open_metadata_store(url)
    remote = store.create_run("remote", environment={"host": "another-machine", "pid": 1})
    assert store.get_run(killed).status is RunStatus.RUNNING
    with start_run(store, "live") as live:
        assert live.get().environment["pid"] == os.getpid()
        assert reap_runs(store) == [killed]  # not the live run of this process, not the remote one
        assert live.get().status is RunStatus.RUNNING
    run = store.get_run(killed)
    assert run.status is RunStatus.FAILED and f"pid {run.environment['pid']}" in (run.error or "")
    assert store.get_run(remote).status is RunStatus.RUNNING
    assert reap_runs(store) == []
    store.close()
