"""Real server processes: hot swap from another process, a broken version, kill -9, graceful shutdown,
and the reliability run (alias flips and canary toggles under load: zero failed requests)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlfactory.server import ServerProcess, start_server_process
from mlfactory.serving import PredictionLog, deploy_canary, deploy_clear
from serving_helpers import open_copy, sample_records

pytestmark = pytest.mark.slow
ENV = {"MLFACTORY_SERVER__RELOAD_INTERVAL": "0.3", "MLFACTORY_SERVER__PREDICTION_LOG__FLUSH_INTERVAL": "0.5"}


def _serve(root: Path, tmp: Path, **env: str) -> ServerProcess:
    return start_server_process(root, env={**ENV, **env}, log_file=tmp / "server.log", timeout=90)


def _wait_for(fn: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _routed(url: str) -> set[int]:
    return {r["version"] for r in httpx.get(f"{url}/readyz").json()["models"]["spam"]["routes"]}


def _version(url: str, recs: list[dict[str, Any]]) -> int:
    return int(httpx.post(f"{url}/v1/models/spam/predict", json={"records": recs}).json()["version"])


def test_hot_swap_from_another_process_and_broken_version(spam_project: Path, tmp_path: Path) -> None:
    recs = sample_records(spam_project, 1)
    with _serve(spam_project, tmp_path) as server, open_copy(spam_project) as project:
        assert _version(server.url, recs) == 1
        project.promote("spam", 2, reason="hot swap test")
        _wait_for(lambda: _version(server.url, recs) == 2)
        digest = project.metadata.get_model_version("spam", 3).artifact
        path = project.artifacts.root / digest[:2] / digest[2:]  # type: ignore[attr-defined]
        path.write_bytes(b"not the model any more")
        project.promote("spam", 3, reason="broken on purpose")
        failures = _wait_for(lambda: httpx.get(f"{server.url}/readyz").json()["failures"])
        assert "spam/3" in failures and "IntegrityError" in failures["spam/3"]
        for _ in range(20):
            assert _version(server.url, recs) == 2  # the broken version never replaced the serving one
        assert httpx.get(f"{server.url}/readyz").status_code == 200
        assert any(e.kind == "serving.load_failed" for e in project.metadata.list_events(model="spam"))


def test_kill_minus_9_loses_at_most_the_last_flush_interval(spam_project: Path, tmp_path: Path) -> None:
    recs = sample_records(spam_project, 2)
    server = _serve(spam_project, tmp_path)
    answered: list[tuple[float, list[str]]] = []
    margin = 0.5 + 1.0  # flush_interval + time to write a segment
    with httpx.Client() as c:
        start = time.time()
        while time.time() < start + margin + 2.0:  # so some rows are older than the margin at the kill
            ids = c.post(f"{server.url}/v1/models/spam/predict", json={"records": recs}).json()["request_ids"]
            answered.append((time.time(), ids))
    killed_at = time.time()
    server.kill()
    with open_copy(spam_project) as project:
        log = PredictionLog(project.loaded.path(project.config.server.prediction_log.path))
        logged = set(log.query(model="spam")["request_id"])
    assert not list(log.root.rglob("part-*.parquet.tmp")) and all(p.stat().st_size for p in log.files())
    # the guarantee: every row answered more than flush_interval (+ write time) before the kill is durable
    old = [i for t, ids in answered if t < killed_at - margin for i in ids]
    assert old and set(old) <= logged
    assert logged <= {i for _, ids in answered for i in ids}


def test_graceful_shutdown_flushes_everything(spam_project: Path, tmp_path: Path) -> None:
    recs = sample_records(spam_project, 3)
    server = _serve(spam_project, tmp_path, MLFACTORY_SERVER__PREDICTION_LOG__FLUSH_INTERVAL="60")
    with httpx.Client() as c:
        ids = [
            i
            for _ in range(40)
            for i in c.post(f"{server.url}/v1/models/spam/predict", json={"records": recs}).json()[
                "request_ids"
            ]
        ]
    assert server.stop() in (0, -15)  # uvicorn re-raises SIGTERM after its graceful shutdown
    with open_copy(spam_project) as project:
        log = PredictionLog(project.loaded.path(project.config.server.prediction_log.path))
        assert set(log.query(model="spam")["request_id"]) == set(ids)


def test_reliability_alias_flips_and_canary_under_load(spam_project: Path, tmp_path: Path) -> None:
    """20 production moves 1↔2 and a canary (v3) switched on and off under steady load: no failed request,
    and every answer came from a version that held a route within the reload window of the answer."""
    recs = sample_records(spam_project, 1)
    holders: list[tuple[float, set[int]]] = []  # (time, versions holding a route from then on)
    stop = threading.Event()
    results: list[tuple[float, float, int, list[int]]] = []

    def load(url: str) -> None:
        with httpx.Client(timeout=30) as c:
            while not stop.is_set():
                t0 = time.time()
                try:
                    r = c.post(f"{url}/v1/models/spam/predict", json={"records": recs * 3})
                    results.append((t0, time.time(), r.status_code, r.json().get("versions", [])))
                except httpx.HTTPError as exc:
                    results.append((t0, time.time(), 0, [str(exc)]))  # type: ignore[list-item]

    with _serve(spam_project, tmp_path) as server, open_copy(spam_project) as project:
        holders.append((time.time(), {1}))
        threads = [threading.Thread(target=load, args=(server.url,)) for _ in range(4)]
        for t in threads:
            t.start()
        production = 1
        for i in range(20):
            time.sleep(0.15)
            production = 2 if production == 1 else 1
            canary = i in range(5, 12)
            changing = time.time()  # a change may be seen from the moment it starts
            project.promote("spam", production, reason=f"flip {i}")
            if i == 5:
                deploy_canary(project.metadata, "spam", 3, weight=30, actor="test")
            if i == 12:
                deploy_clear(project.metadata, "spam", actor="test")
            holders.append((changing, {production, 3} if canary else {production}))
            if i in (5, 12):  # let the server pick the canary change up (a slow shared machine may lag)
                _wait_for(lambda on=i == 5: on == (3 in _routed(server.url)), timeout=60)
            if i == 6:
                _wait_for(lambda: any(3 in vs for *_, vs in results), timeout=60)
        time.sleep(6.0)  # longer than the window below, so a canary that stayed on would show
        stop.set()
        for t in threads:
            t.join(30)
    failed = [r for r in results if r[2] != 200]
    assert len(results) > 50 and not failed, failed[:3]
    window = 4.0  # reload interval + loading a version, with room for a busy shared machine

    def allowed(start: float, end: float) -> set[int]:
        out: set[int] = set()
        for i, (t, versions) in enumerate(holders):
            until = holders[i + 1][0] if i + 1 < len(holders) else float("inf")
            if t <= end and until + window >= start:
                out |= versions
        return out

    bad = [(s, e, v) for s, e, _, v in results if not set(v) <= allowed(s, e)]
    t0 = holders[0][0]
    assert not bad, (
        [(round(s - t0, 3), round(e - t0, 3), v) for s, e, v in bad[:3]],
        bad[-1][0] - t0,
        str([(round(t - t0, 3), v) for t, v in holders]),
    )
    seen = {v for *_, vs in results for v in vs}
    assert {1, 2, 3} <= seen


def test_a_client_leaving_mid_body_is_not_an_error(spam_project: Path, tmp_path: Path) -> None:
    recs = sample_records(spam_project, 1)
    with _serve(spam_project, tmp_path) as server:
        host, port = server.url.removeprefix("http://").split(":")
        for _ in range(3):
            with socket.create_connection((host, int(port))) as sock:
                sock.sendall(
                    b"POST /v1/models/spam/predict HTTP/1.1\r\nHost: x\r\n"
                    b'Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"records": ['
                )
                time.sleep(0.2)
        assert _version(server.url, recs) == 1  # still serving
    text = (tmp_path / "server.log").read_text()
    assert "Traceback" not in text and "unexpected error" not in text, text[-2000:]


def test_metrics_count_every_worker(spam_project: Path, tmp_path: Path) -> None:
    """With --workers 2 a scrape reaches one worker, and still counts the rows both predicted."""
    recs = sample_records(spam_project, 2)
    with start_server_process(
        spam_project, workers=2, env=ENV, log_file=tmp_path / "server.log", timeout=120
    ) as server:
        tokens = set()
        for _ in range(40):  # a new connection each time, so the kernel hands them to both workers
            ids = httpx.post(f"{server.url}/v1/models/spam/predict", json={"records": recs}).json()[
                "request_ids"
            ]
            tokens.add(ids[0][11:17])  # the answering process's token inside each request id
        assert len(tokens) == 2  # both workers answered
        line = 'mlfactory_predictions_total{model="spam",route="production",version="1"}'
        for _ in range(6):
            text = httpx.get(f"{server.url}/metrics").text
            counted = [float(row.split()[-1]) for row in text.splitlines() if row.startswith(line)]
            assert counted == [80.0], text[-1500:]
