"""Starting and stopping a server: in this process (a thread) or as a subprocess, for the CLI, the
quickstart, tests and benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from mlfactory.errors import StoreUnavailableError
from mlfactory.server.settings import SETTINGS_ENV, ServerSettings


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def uvicorn_options(access_log: bool = False) -> dict[str, Any]:
    """The uvicorn settings we serve with: uvloop and httptools when installed, no per-request access log."""
    opts: dict[str, Any] = {"access_log": access_log, "log_level": "info", "timeout_graceful_shutdown": 30}
    try:
        import uvloop  # noqa: F401

        opts["loop"] = "uvloop"
    except ImportError:
        pass
    try:
        import httptools  # noqa: F401

        opts["http"] = "httptools"
    except ImportError:
        pass
    return opts


def wait_ready(url: str, timeout: float = 60.0, path: str = "/healthz") -> None:
    """Poll ``url + path`` until it answers 200, or raise StoreUnavailableError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            r = httpx.get(url + path, timeout=2.0)
            if r.status_code == 200:
                return
            last = f"HTTP {r.status_code}"
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(0.05)
    raise StoreUnavailableError(f"the server at {url} did not become ready within {timeout} s ({last})")


@dataclass
class RunningServer:
    """A server running on a thread of this process; :meth:`stop` shuts it down gracefully."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self, timeout: float = 30.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server(
    settings: ServerSettings, *, host: str = "127.0.0.1", port: int | None = None, timeout: float = 60.0
) -> RunningServer:
    """Serve ``settings`` on a background thread (port picked when None) and wait until it answers."""
    from mlfactory.server.app import create_app

    port = port or free_port(host)
    opts = uvicorn_options()
    opts["log_level"] = "warning"
    config = uvicorn.Config(create_app(settings), host=host, port=port, **opts)
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[attr-defined]  # not the main thread
    thread = threading.Thread(target=server.run, name="mlfactory-server", daemon=True)
    thread.start()
    url = f"http://{host}:{port}"
    wait_ready(url, timeout)
    return RunningServer(url, server, thread)


@dataclass
class ServerProcess:
    """``mlfactory serve`` as a subprocess. :meth:`stop` sends SIGTERM (a graceful shutdown that flushes
    the prediction log); :meth:`kill` sends SIGKILL."""

    url: str
    process: subprocess.Popen[bytes]

    def stop(self, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server_process(
    project: Path | str,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    workers: int = 1,
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
    timeout: float = 60.0,
    log_file: Path | None = None,
) -> ServerProcess:
    """Start ``mlfactory serve`` for a project in a new process and wait until it answers.

    Args:
        project: the project folder.
        env: extra environment (e.g. ``MLFACTORY_STORES__METADATA`` or ``MLFACTORY_SERVER__TOKEN``).
        args: extra ``serve`` options.
        log_file: where the server's output goes (discarded when None).
    """
    port = port or free_port(host)
    cmd = [
        sys.executable,
        "-m",
        "mlfactory.cli.main",
        "--project",
        str(project),
        "serve",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        *args,
    ]
    full_env = {**os.environ, **(env or {})}
    full_env.pop(SETTINGS_ENV, None)
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115  (owned by the process)
    proc = subprocess.Popen(cmd, env=full_env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://{host}:{port}"
    try:
        wait_ready(url, timeout)
    except StoreUnavailableError:
        proc.kill()
        proc.wait()
        raise
    return ServerProcess(url, proc)
