"""The serving benchmark's CPU per request counts every process a server started, even one that left the
server's session (as BentoML's workers do)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BURN = (
    "import sys, time\n"
    "while time.process_time() < 0.5:\n"
    "    pass\n"
    "print('burned', flush=True)\n"
    "sys.stdin.read()\n"
)
# a "server" whose worker starts its own session, burns 0.5 s of CPU, then waits for its stdin to close
SERVER = (
    "import subprocess, sys\n"
    f"worker = subprocess.Popen([sys.executable, '-c', {BURN!r}], start_new_session=True)\n"
    "sys.exit(worker.wait())\n"
)


def load_serving_benchmark() -> Any:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("serving_bench", ROOT / "benchmarks" / "serving.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["serving_bench"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_cpu_of_a_worker_in_its_own_session_is_counted() -> None:
    bench = load_serving_benchmark()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "burned"
        assert bench.tree_cpu_s(server.pid) >= 0.5  # the worker's own 0.5 s, read while it is alive
    finally:
        assert server.stdin is not None
        server.stdin.close()  # the worker reads EOF and ends, then the server
        server.wait(timeout=60)
