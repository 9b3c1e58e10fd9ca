"""The tests' Ray clusters started with ``ray start --head`` and reached by ``ray://``, and which Ray
processes run, for the tests that prove a Ray they started left none behind."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import ray

from mlfactory.compute import RayExecutor, open_executor

GRACE_S = 60.0  # how long Ray's processes may take to exit after they were told to stop
HEAD_CPUS = 2
RAY = Path(sys.executable).with_name("ray")


def ray_processes_under(root: int) -> set[int]:
    """Ray's live (not zombie) processes at or under ``root`` (other pools, e.g. joblib's, are not Ray's)."""
    rows = subprocess.run(["ps", "-eo", "pid=,ppid=,stat=,args="], capture_output=True, text=True, check=True)
    children: dict[int, list[int]] = {}
    rays = set()
    for line in rows.stdout.splitlines():
        p, parent, stat, args = line.split(maxsplit=3)
        children.setdefault(int(parent), []).append(int(p))
        if not stat.startswith("Z") and "ray" in args:
            rays.add(int(p))
    tree, todo = set(), [root]
    while todo:
        p = todo.pop()
        tree.add(p)
        todo.extend(children.get(p, []))
    return tree & rays


def still_alive(pids: set[int], grace: float = GRACE_S) -> set[int]:
    """Which of ``pids`` still run (not zombies) once they have had ``grace`` seconds to exit."""
    deadline = time.monotonic() + grace
    while (alive := pids & ray_processes_under(1)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return alive


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # every process of the group has exited already
        os.killpg(pgid, sig)


def ray_head(log: Path) -> Iterator[RayExecutor]:
    """A cluster of ``HEAD_CPUS`` CPUs started by ``ray start --head`` (no dashboard), and an executor
    connected to it by ``ray://`` (``compute: ray://127.0.0.1:PORT``): a project opened with that URL
    meanwhile joins this process's connection. The head's output goes to ``log``.

    This process must not be connected to another Ray (one connection per process), or the executor would
    silently use that one. At the end the executor disconnects, the head's process group is stopped (never
    ``ray stop``, which stops every Ray on the machine) and none of its processes may be left.
    """
    assert not ray.is_initialized(), "another Ray is still connected in this process"
    port, client_port = _free_port(), _free_port()
    command = [
        str(RAY), "start", "--head", "--block", "--num-cpus", str(HEAD_CPUS), "--include-dashboard=false",
        "--node-ip-address", "127.0.0.1", "--port", str(port), "--ray-client-server-port", str(client_port),
        "--dashboard-agent-listen-port", str(_free_port()),
    ]  # fmt: skip
    # a cluster of its own: none of what an in-process Ray left in this process's environment
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_") and k != "PYTHONBREAKPOINT"}
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    with log.open("w") as out:
        # its own process group: stopping it stops this head only, never another Ray on the machine
        head = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in log.read_text():
            assert head.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        executor = open_executor(f"ray://127.0.0.1:{client_port}")
        assert isinstance(executor, RayExecutor)
        assert executor.workers == HEAD_CPUS  # connected, to this head
        yield executor
        executor.close()
        assert not ray.is_initialized()
    finally:
        ray_processes = ray_processes_under(head.pid)
        _signal_group(head.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            head.wait(timeout=10)
        _signal_group(head.pid, signal.SIGKILL)  # what did not drain in time
        head.wait()
        assert not still_alive(ray_processes), "processes of the `ray start` head left behind"
