"""MLflow for the interop tests: its own virtual environment (never mlfactory's), a store it writes, a server.

mlflow pins its own pandas and NumPy ranges, so it is never installed into mlfactory's environment: the
tests make one venv under ``.bench-cache/test-envs/mlflow`` (as the benchmarks make their anchors), once,
from PyPI, and reuse it while the package list stays the same. scikit-learn and skops are pinned to the
versions mlfactory runs, so a model pickled there loads here and a skops file written here loads there.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
ENVS = ROOT / ".bench-cache" / "test-envs"
MARKER = ".mlfactory-test-packages"


def packages(major: int) -> list[str]:
    """What an MLflow environment holds: MLflow of that major version, and the model libraries at
    mlfactory's versions (MLflow 2 takes pandas 2, and SQLAlchemy before 2.1, whose pools it imports)."""
    pinned = [f"{name}=={metadata.version(name)}" for name in ("scikit-learn", "skops", "numpy")]
    if major >= 3:
        return [f"mlflow>={major},<{major + 1}", *pinned, "pandas"]
    return [f"mlflow>={major},<{major + 1}", *pinned, "pandas<3", "sqlalchemy<2.1"]


def mlflow_python(major: int = 3) -> Path:
    """The Python of an MLflow ``major`` environment, made on first use (a few minutes, once)."""
    venv = ENVS / ("mlflow" if major == 3 else f"mlflow{major}")
    python = venv / "bin" / "python"
    marker = venv / MARKER
    wanted = "\n".join(packages(major))
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *packages(major)],
        check=True,
    )
    marker.write_text(wanted)
    return python


def mlflow_environ(python: Path) -> dict[str, str]:
    """The environment of an MLflow process: its venv's bin first on PATH, telemetry off."""
    env = dict(os.environ)
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTHONPATH", None)
    env.update({"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "GIT_PYTHON_REFRESH": "quiet"})
    return env


def run_script(python: Path, script: str, *args: str, cwd: Path) -> str:
    """Run ``script`` with the MLflow environment's Python in ``cwd``; its stdout, or the failure shown."""
    path = cwd / "mlflow_script.py"
    path.write_text(script)
    done = subprocess.run(
        [str(python), str(path), *args],
        cwd=cwd,
        env=mlflow_environ(python),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"the MLflow script failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def mlflow_serving(python: Path, model_dir: Path, log: Path) -> Iterator[str]:
    """``mlflow models serve --env-manager local`` on a free loopback port, as a process group of its own;
    yields its URL once ``/ping`` answers, and kills the group after."""
    port = free_port()
    command = [str(python), "-m", "mlflow", "models", "serve", "-m", str(model_dir)]
    command += ["--env-manager", "local", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, env=mlflow_environ(python), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, f"mlflow models serve exited:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, (
                f"mlflow models serve never answered:\n{log.read_text()[-3000:]}"
            )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/ping", timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
