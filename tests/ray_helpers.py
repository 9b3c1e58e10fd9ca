"""Which Ray processes run, for the tests that prove a Ray they started left none behind."""

from __future__ import annotations

import subprocess
import time

GRACE_S = 60.0  # how long Ray's processes may take to exit after they were told to stop


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
