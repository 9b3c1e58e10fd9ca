"""The factory as a team runs it: four machines that share nothing but PostgreSQL, Redis and a bucket.

Each machine is a folder holding its own copy of the same project files (the project file, features.py and
the data), as a team checks out one repository on several machines. Every store the project file names is
shared and remote: metadata in PostgreSQL (a schema of this test's own), online features in Redis (a key
prefix of its own), artifacts, dataset snapshots and the prediction log in one bucket on the loopback S3
server. As real processes: machine A ingests, materializes, trains and promotes through the CLI; machines B
and C each serve; traffic and users' labels go to both; machine D runs `mlfactory controller run`, which
retrains on both servers' labelled traffic, canaries the challenger on both, promotes it and watches it
through the guard window, and stops on SIGTERM with its lease given back; A's monitoring reads the one log
both servers wrote; the audit log holds every step; and no machine keeps a store of its own.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from mlfactory.config import load_project_config
from mlfactory.entities import Event
from mlfactory.project import Project, open_project
from mlfactory.project.core import default_actor
from mlfactory.quickstart import init_project
from mlfactory.quickstart.story import FEATURES, World
from mlfactory.stores.metadata import MetadataStore
from mlfactory.stores.predictions import PredictionReader, open_prediction_reader
from project_helpers import cli_command

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

POLICY: dict[str, Any] = {
    # one retrain on the controller's first pass, none after it: the test is about machines, not triggers
    "triggers": {"schedule": "0s"},
    "cooldown": "1h",
    "window_rows": 200,
    "include_feedback": True,
    "rollout": {
        "canary_weight": 50,
        "canary_key": "message_id",
        "min_canary_rows": 100,
        "min_labelled_rows": 30,
        "compare": [
            {"metric": "error_rate", "max_regression": 0.01},
            {"metric": "accuracy", "max_regression": 0.1},
        ],
        "guard_rows": 50,
    },
}
MACHINES = ("a", "b", "c", "d")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _team_project(repo: Path, *, metadata: str, online: str, bucket: Any) -> None:
    """The spam project whose every store is shared: the repository the team checks out."""
    init_project(repo, rows=1500, seed=7)
    config = yaml.safe_load((repo / "mlfactory.yaml").read_text())
    config["stores"] = {
        "metadata": metadata,
        "artifacts": f"{bucket.url}/artifacts",
        "datasets": f"{bucket.url}/datasets",
        "online": online,
        "storage_options": bucket.storage_options,
    }
    config["controller"] = {"interval": 1.0}
    config["server"] = {
        "reload_interval": 0.2,
        "ui": False,
        "prediction_log": {"path": f"{bucket.url}/predictions", "flush_interval": 0.2},
    }
    model = config["models"]["spam"]
    model["gates"] = [{"metric": "accuracy", "min": 0.8}]
    model["policy"] = POLICY
    (repo / "mlfactory.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def _environment() -> dict[str, str]:
    """The process environment without project-file overrides: every machine reads only its project file
    (the S3 credentials stay, as each machine's credential chain would give them)."""
    return {k: v for k, v in os.environ.items() if not (k.startswith("MLFACTORY_") and "__" in k)}


@dataclass
class Machine:
    """One machine: its checkout of the project, and the mlfactory commands it runs there."""

    root: Path
    logs: Path
    actor: str = field(default_factory=default_actor)

    def run(self, *args: str) -> str:
        done = subprocess.run(
            cli_command(self.root, *args),
            cwd=self.root,
            env=_environment(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"mlfactory {' '.join(args)} on {self.root.name}: {done.stderr}"
        return done.stdout

    def json(self, *args: str) -> Any:
        return orjson.loads(self.run(*args, "--json"))


@dataclass
class Server:
    """`mlfactory serve` running on one machine, and what it answered."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    output: Path
    routes: Counter[tuple[int, str]] = field(default_factory=Counter)
    features: Counter[str] = field(default_factory=Counter)
    request_ids: list[str] = field(default_factory=list)

    def serving(self) -> tuple[set[int], int | None]:
        """The versions the server routes the model's traffic to now, and the routing revision (the newest
        alias or routing event) its route table was built from."""
        answer = httpx.get(f"{self.url}/v1/models/spam")
        if answer.status_code == 404:  # nothing to serve yet
            return set(), None
        model = answer.json()
        return {int(r["version"]) for r in model["routes"]}, model["revision"]

    def predict(self, emails: pd.DataFrame) -> dict[str, Any]:
        records = emails[["message_id", *FEATURES]].to_dict("records")
        answer = httpx.post(f"{self.url}/v1/models/spam/predict", json={"records": records}, timeout=60)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        self.routes.update(zip(body["versions"], body["routes"], strict=True))
        self.features.update(body["feature_status"])
        self.request_ids += body["request_ids"]
        return body

    def label(self, ids: list[str], emails: pd.DataFrame) -> None:
        """Send the users' labels of answered emails as feedback to this server."""
        labels = [{"request_id": r, "label": y} for r, y in zip(ids, emails["is_spam"], strict=True)]
        assert httpx.post(f"{self.url}/v1/feedback", json={"labels": labels}).status_code == 200

    def send(self, emails: pd.DataFrame) -> list[str]:
        """Post the emails, then their users' labels, to this server; returns the request ids."""
        ids: list[str] = self.predict(emails)["request_ids"]
        self.label(ids, emails)
        return ids


@dataclass
class Loop:
    """What the loop's run left for the checks: the servers, the first burst's request ids per server, the
    canary's rows, the controller's decisions and what spam/2 trained on."""

    servers: list[Server]
    first: list[list[str]]
    canary_rows: int = 0
    promoted: Event | None = None
    guard: Event | None = None
    datasets: list[str | None] = field(default_factory=list)
    trained_on: set[str] = field(default_factory=set)
    controller_exit: int | None = None


def _serve(machine: Machine, name: str) -> Server:
    """Start `mlfactory serve` on the machine, on a port of its own (see :func:`_ready`)."""
    port = _free_port()
    output = machine.logs / f"serve-{name}.log"
    with output.open("wb") as out:
        process = subprocess.Popen(
            cli_command(machine.root, "serve", "--port", str(port)),
            cwd=machine.root,
            env=_environment(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Server(name, f"http://127.0.0.1:{port}", process, output)


def _ready(server: Server) -> None:
    deadline = time.monotonic() + 120  # a startup bound, not a result: the server answers or the test fails
    while True:
        try:
            if httpx.get(f"{server.url}/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert server.process.poll() is None, server.output.read_text()
        assert time.monotonic() < deadline, f"server {server.name} was not ready in 120 s"
        time.sleep(0.2)


def _stop(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


def _until_serving(servers: list[Server], versions: set[int]) -> None:
    """Both servers pick a route change up from the shared metadata within their reload interval, and then
    route from the same revision of it."""
    deadline = time.monotonic() + 120
    while True:
        now = [s.serving() for s in servers]
        if all(v == versions for v, _ in now) and len({r for _, r in now}) == 1:
            return
        assert time.monotonic() < deadline, f"servers route as {now}, expected {versions} on each"
        time.sleep(0.1)


def _burst(servers: list[Server], log: PredictionReader, emails: pd.DataFrame) -> None:
    """Split the emails between the servers; wait until every answer is in the shared log."""
    half = len(emails) // 2
    ids = servers[0].send(emails.iloc[:half]) + servers[1].send(emails.iloc[half:])
    assert log.wait_for(ids), "answered rows did not reach the prediction log in the bucket"


def _controller(machine: Machine) -> subprocess.Popen[bytes]:
    """`mlfactory controller run` on the machine: a pass every second until it is stopped."""
    with (machine.logs / "controller.log").open("wb") as out:
        return subprocess.Popen(
            cli_command(machine.root, "controller", "run"),
            cwd=machine.root,
            env=_environment(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _stop_controller(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM ends `controller run` like Ctrl-C; returns its exit code."""
    process.terminate()
    try:
        return process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def _decision(meta: MetadataStore, kind: str, controller: subprocess.Popen[bytes], logs: Path) -> Event:
    """The controller's event of this kind, once it took that step (as any machine reads it from the
    shared metadata)."""
    deadline = time.monotonic() + 180
    while True:
        found = meta.list_events(model="spam", kinds=[kind])
        if found:
            return found[-1]
        assert controller.poll() is None, (logs / "controller.log").read_text()
        assert time.monotonic() < deadline, f"no {kind} in 180 s: " + (logs / "controller.log").read_text()
        time.sleep(0.2)


def _local_stores(root: Path) -> list[str]:
    """What of a store lives in a machine's folder: anything under .mlfactory but its download cache."""
    folder = root / ".mlfactory"
    found = [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []
    return sorted(str(p.relative_to(root)) for p in found if p.relative_to(folder).parts[0] != "cache")


@pytest.fixture
def machines(
    tmp_path: Path, postgres_url: str, redis_url: str, s3_bucket: Any
) -> Iterator[dict[str, Machine]]:
    import redis

    prefix = f"mlftest.{uuid.uuid4().hex[:12]}."
    repo = tmp_path / "repo"
    _team_project(repo, metadata=postgres_url, online=f"{redis_url}?prefix={prefix}", bucket=s3_bucket)
    logs = tmp_path / "logs"
    logs.mkdir()
    team = {}
    for name in MACHINES:
        shutil.copytree(repo, tmp_path / name)
        team[name] = Machine(tmp_path / name, logs)
    shutil.rmtree(repo)  # the machines' checkouts are the only copies
    yield team
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


def _retrain_inputs(project: Project) -> tuple[list[str | None], set[str]]:
    """The dataset every version of the model trained on, and the request ids of the labelled traffic the
    retrained spam/2 took in too (an artifact in the bucket)."""
    versions = project.metadata.list_model_versions("spam")
    digest = versions[1].lineage.feedback_requests
    assert digest is not None, "spam/2 trained on no labelled traffic"
    requests = pq.read_table(io.BytesIO(project.artifacts.get_bytes(digest)))["request_id"]
    return [v.lineage.dataset for v in versions], set(requests.to_pylist())


def _run_the_loop(a: Machine, b: Machine, c: Machine, d: Machine, log: PredictionReader) -> Loop:
    """A ingests, trains and promotes; B and C serve; D's controller retrains on their labelled traffic,
    canaries the challenger on both and promotes it, then watches it through the guard window."""
    world = World(11)
    a.run("ingest", "emails")
    servers = [_serve(b, "b"), _serve(c, "c")]  # up before there is a model: they find it when A promotes it
    controller: subprocess.Popen[bytes] | None = None
    try:
        a.run("features", "materialize")
        assert a.json("train", "spam")["version"] == "spam/1"
        a.run("models", "promote", "spam", "1", "--reason", "first version")
        for s in servers:
            _ready(s)
        _until_serving(servers, {1})
        _burst(servers, log, world.emails(400, 0.0))
        loop = Loop(servers, [list(s.request_ids) for s in servers])

        controller = _controller(d)  # retrains on the labelled traffic of both servers, then a canary
        _until_serving(servers, {1, 2})
        emails = world.emails(800, 0.0)
        answered = [s.predict(part) for s, part in zip(servers, (emails[:400], emails[400:]), strict=True)]
        for s in servers:  # each server sends part of its own traffic to the challenger
            assert s.routes[(2, "canary")] > 0 and s.routes[(1, "production")] > 0, s.routes
        same = world.emails(40, 0.0)  # the canary key sends an email to one version, whichever server
        assert servers[0].predict(same)["versions"] == servers[1].predict(same)["versions"]
        assert log.wait_for([i for s in servers for i in s.request_ids])
        for s, part, body in zip(servers, (emails[:400], emails[400:]), answered, strict=True):
            s.label(body["request_ids"], part)  # the users' labels decide the canary
        loop.canary_rows = sum(s.routes[(2, "canary")] for s in servers)

        _until_serving(servers, {2})  # promoted: both servers send everything to spam/2
        _burst(servers, log, world.emails(200, 0.0))
        for s in servers:
            assert s.routes[(2, "production")] == 100, s.routes
        with open_project(a.root, env={}) as project:  # A reads the controller's decisions
            loop.guard = _decision(project.metadata, "rollout.idle", controller, d.logs)
            loop.promoted = project.metadata.list_events(model="spam", kinds=["rollout.promoted"])[-1]
            loop.datasets, loop.trained_on = _retrain_inputs(project)
    finally:
        for s in servers:
            _stop(s)
        if controller is not None:
            loop.controller_exit = _stop_controller(controller)
    return loop


def test_four_machines_share_only_postgres_redis_and_a_bucket(machines: dict[str, Machine]) -> None:
    a, b, c, d = (machines[n] for n in MACHINES)
    log = open_prediction_reader(load_project_config(a.root, env={}), None)  # the bucket, as A reads it
    loop = _run_the_loop(a, b, c, d, log)
    servers = loop.servers
    assert loop.controller_exit == 128 + signal.SIGTERM, (d.logs / "controller.log").read_text()
    with open_project(a.root, env={}) as project:  # the stopped controller gave its lease back at once
        assert project.metadata.get_rollout("spam").lease_owner is None

    # spam/2 was promoted on the labelled rows both servers' canaries answered, and held up in production
    assert loop.promoted is not None and loop.guard is not None
    assert loop.promoted.payload["decision"] == "promote"
    assert loop.promoted.payload["rows"]["challenger"] == loop.canary_rows
    assert (
        "guard window passed" in loop.guard.reason
        and loop.guard.payload["rows"] >= POLICY["rollout"]["guard_rows"]
    )
    # D's controller retrained on the dataset A ingested (its own checkout of the source has the same
    # content) and on the labels both servers took
    assert loop.datasets[0] is not None and loop.datasets == [loop.datasets[0]] * 2
    assert set(loop.first[0]) | set(loop.first[1]) <= loop.trained_on
    # both servers looked the sender features up in the one online store (materialized on A)
    for s in servers:
        assert s.features["present"] > 0.9 * sum(s.features.values()), (s.name, s.features)

    # one log in the bucket holds every answer of both servers, and only those
    logged = log.query(model="spam")
    assert not set(servers[0].request_ids) & set(servers[1].request_ids)
    assert set(logged["request_id"]) == set(servers[0].request_ids) | set(servers[1].request_ids)
    assert (logged["route"] == "canary").sum() == loop.canary_rows

    # machine A's monitoring reads what both servers logged
    reports = a.json("monitor", "run", "--model", "spam", "--window", "1h")
    rows = {(r["version"], r["route"]): r["rows"] for r in reports}
    assert rows[(2, "canary")] == loop.canary_rows
    assert rows[(1, "production")] == sum(s.routes[(1, "production")] for s in servers)
    assert rows[(2, "production")] == 200

    # the audit log, read on machine A, shows every step and who took it
    events = a.json("events", "--model", "spam", "--limit", "1000")
    steps = [(e["kind"], e["actor"].split(":")[0]) for e in events]
    noted = ("monitor.report", "controller.suppressed")
    assert [x for x in steps if x[0] not in noted] == [
        ("model.registered", a.actor),
        ("alias.set", a.actor),
        ("feedback.received", "server"),
        ("rollout.retraining", "controller"),
        ("model.registered", "controller"),
        ("rollout.gated", "controller"),
        ("routing.set", "controller"),
        ("rollout.canary", "controller"),
        ("alias.set", "controller"),
        ("routing.cleared", "controller"),
        ("rollout.promoted", "controller"),
        ("rollout.idle", "controller"),
    ], steps
    assert all("cooldown" in e["reason"] for e in events if e["kind"] == "controller.suppressed")
    # no pass failed, the one the SIGTERM cut short included (it is the shutdown, not an error)
    monitored = {actor for kind, actor in steps if kind == "monitor.report"}
    assert monitored == {"controller", a.actor}  # D's controller watched the log too, on its own schedule

    # every store agrees with the others (hashes in the bucket, references in PostgreSQL)
    a.run("verify")
    # and nothing of a store is kept on any machine: the servers keep nothing at all, A and D only copies of
    # the models they loaded, in their download cache
    for name, machine in machines.items():
        assert _local_stores(machine.root) == [], name
    for machine in (b, c):
        assert not (machine.root / ".mlfactory").exists()
