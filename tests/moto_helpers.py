"""A moto S3 server of a test's own, for outage tests: it can be stopped and started again on the same
loopback port (moto keeps its state in memory only, so each start creates the bucket again), and a wait
that decides from what the system reports, bounded by a deadline that is never a result."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def until(condition: Callable[[], Any], what: str, deadline: float) -> Any:
    """``condition()``'s first true value, polled for at most ``deadline`` seconds (then the test fails)."""
    end = time.monotonic() + deadline
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.1)


class MotoServer:
    """moto's S3 server on one loopback port of the test's own, stopped and started again on that port."""

    def __init__(self, bucket: str) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.bucket = bucket
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it, wait until it accepts connections, and create the (empty) bucket."""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        until(self._accepts, "the moto server to accept connections", 60.0)
        self.client().create_bucket(Bucket=self.bucket)

    def _accepts(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, "the moto server exited"
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def client(self) -> Any:
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")


def running_moto(monkeypatch: pytest.MonkeyPatch, bucket: str) -> Iterator[MotoServer]:
    """A started server with test credentials in the environment (server subprocesses inherit them)."""
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    server = MotoServer(bucket)
    server.start()
    yield server
    server.stop()
