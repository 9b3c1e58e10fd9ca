"""Killing a process in the middle of `train` or `promote` never leaves a half-registered version or an
alias pointing at nothing."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from mlfactory.project import open_project
from project_helpers import make_project

LOOP = """
import sys
from mlfactory.project import open_project
with open_project(sys.argv[1], env={}, actor="loop") as project:
    print("ready", flush=True)
    while True:
        result = project.train("spam")
        project.promote("spam", result.version.version, reason="loop", force=True)
        project.promote("spam", result.version.version, alias="staging")
        print("done", flush=True)
"""


def check_consistent(root: Path) -> int:
    with open_project(root, env={}) as project:
        names = project.metadata.list_model_names()
        versions = project.metadata.list_model_versions("spam") if names else []
        for mv in versions:
            project.registry.load(mv)  # every registered version's artifact exists and verifies
            assert mv.run_id and project.metadata.get_run(mv.run_id).artifacts["model"] == mv.artifact
        numbers = {mv.version for mv in versions}
        for (_, alias), version in project.metadata.get_aliases("spam").items():
            assert version in numbers, f"alias {alias} points at missing version {version}"
        registered = [e for e in project.metadata.list_events(kinds=["model.registered"])]
        assert len(registered) == len(versions)  # the version and its event are written together
        return len(versions)


def test_sigkill_during_train_and_promote(tmp_path: Path) -> None:
    root = tmp_path / "p"
    make_project(root, rows=800).close()
    rng = np.random.default_rng(3)
    killed_after_versions = []
    for trial in range(6):
        proc = subprocess.Popen([sys.executable, "-c", LOOP, str(root)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        if trial == 0:  # let one full iteration land, so later kills interrupt a project with versions
            assert proc.stdout.readline().strip() == "done"
        time.sleep(float(rng.uniform(0.2, 2.5)))  # lands in fitting, saving, registering or promoting
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        killed_after_versions.append(check_consistent(root))
    assert killed_after_versions[0] >= 1  # the loop really registered versions between kills
