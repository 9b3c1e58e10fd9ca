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
from mlfactory.serving import deploy_canary, deploy_clear
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
        log = project.predictions
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
        log = project.predictions
        assert set(log.query(model="spam")["request_id"]) == set(ids)


def _revision(url: str) -> int:
    return int(httpx.get(f"{url}/readyz").json()["models"]["spam"]["revision"])


def test_reliability_alias_flips_and_canary_under_load(spam_project: Path, tmp_path: Path) -> None:
    """20 production moves 1↔2 and a canary (v3) switched on and off under steady load: no failed request,
    and every answer came from versions the routing state it reports (``X-Route-Revision``, the id of the
    newest alias or routing event the server's route table was built from) routes to. Decided by what the
    server reports, never by the clock: a busy machine may make the server late, never wrong."""
    recs = sample_records(spam_project, 1)
    stop = threading.Event()
    results: list[tuple[int, int, list[int], int | None]] = []  # (client, status, versions, revision)

    def load(url: str, client: int) -> None:
        with httpx.Client(timeout=30) as c:
            while not stop.is_set():
                try:
                    r = c.post(f"{url}/v1/models/spam/predict", json={"records": recs * 3})
                    revision = r.headers.get("x-route-revision")
                    versions = r.json().get("versions", [])
                    results.append((client, r.status_code, versions, int(revision) if revision else None))
                except httpx.HTTPError as exc:
                    results.append((client, 0, [str(exc)], None))  # type: ignore[list-item]

    def answered(revision: int) -> int:
        return sum(1 for *_, r in results if r == revision)

    with _serve(spam_project, tmp_path) as server, open_copy(spam_project) as project:
        # revision -> the versions holding a route in the state that event left (production, canary)
        routes: dict[int, set[int]] = {_revision(server.url): {1}}
        threads = [threading.Thread(target=load, args=(server.url, n)) for n in range(4)]
        for t in threads:
            t.start()
        production, canary = 1, None
        for i in range(20):
            time.sleep(0.15)
            production = 2 if production == 1 else 1
            changes = [(project.promote("spam", production, reason=f"flip {i}"), canary)]
            if i == 5:
                canary = 3
                changes.append((deploy_canary(project.metadata, "spam", 3, weight=30, actor="test"), canary))
            if i == 12:
                canary = None
                changes.append((deploy_clear(project.metadata, "spam", actor="test"), canary))
            for event, on in changes:
                routes[event.id] = {production} | ({on} if on is not None else set())
            if i in (5, 12):  # let the server adopt the canary change (a busy machine may make it late)
                _wait_for(lambda last=changes[-1][0].id: _revision(server.url) >= last, timeout=60)
            if i == 6:
                _wait_for(lambda: any(3 in vs for _, _, vs, _ in results), timeout=60)
        last = max(routes)
        # enough answers made with the final state that a canary left on would show (0.7**90 ≈ 1e-14)
        _wait_for(lambda: answered(last) >= 30, timeout=60)
        stop.set()
        for t in threads:
            t.join(30)
    failed = [r for r in results if r[1] != 200]
    assert len(results) > 50 and not failed, failed[:3]
    unknown = {r for *_, r in results} - routes.keys()
    assert not unknown, (unknown, routes)  # every answer names a routing state the test made
    bad = [(r, vs) for _, _, vs, r in results if not set(vs) <= routes[r]]  # type: ignore[index]
    assert not bad, (bad[:3], len(bad), routes)
    for client in range(4):  # a client's next request never uses an older table than its previous one
        seen = [r for c, *_, r in results if c == client]
        assert seen == sorted(seen), client  # type: ignore[type-var]
    assert {1, 2, 3} <= {v for _, _, vs, _ in results for v in vs}


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
