"""The quickstart's story: a served spam filter whose world changes, and a factory that keeps up by itself.

Traffic comes from the seeded spam world and goes through a real server on loopback; users' labels come
back as feedback; the controller, which monitors the traffic itself, runs between bursts, as it would every
minute.
Everything is seeded, and every decision the controller takes is an event in the audit log.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import yaml

from mlfactory.config import ServerConfig, load_project_config
from mlfactory.control import Controller, Step
from mlfactory.errors import MLFactoryError
from mlfactory.project import Project, open_project
from mlfactory.quickstart.scaffold import START
from mlfactory.quickstart.world import SpamWorld
from mlfactory.server.run import RunningServer, start_server
from mlfactory.server.settings import ServerSettings
from mlfactory.stores.predictions import PredictionReader, open_prediction_reader

FEATURES = ["sender_domain", "language", "subject", "body", "n_links", "n_attachments", "hour_sent"]
BATCH = 50


@dataclass
class Traffic:
    """What one burst of traffic saw: rows answered, per version, and the live accuracy."""

    rows: int
    by_version: dict[str, int]
    accuracy: float
    request_ids: list[str]


@dataclass
class World:
    """The simulated world outside the factory: emails arrive, users label them."""

    seed: int
    clock: pd.Timestamp = field(default_factory=lambda: pd.Timestamp(START) + pd.Timedelta(days=60))

    def __post_init__(self) -> None:
        self.world = SpamWorld(self.seed + 1)  # a different stream than the training data
        self.rng = np.random.default_rng(self.seed)

    def emails(self, n: int, drift: float, hours: float = 12.0) -> pd.DataFrame:
        start = self.clock.to_pydatetime()
        self.clock += pd.Timedelta(hours=hours)
        return self.world.emails(n, start=start, end=start + timedelta(hours=hours), drift=drift)


def send(client: httpx.Client, frame: pd.DataFrame, extra: dict[str, Any] | None = None) -> Traffic:
    """Post the emails in small batches, then send every user's label back as feedback."""
    versions: dict[str, int] = {}
    labels, hits = [], 0
    records = frame[["message_id", *FEATURES]].to_dict("records")
    truth = frame["is_spam"].tolist()
    for i in range(0, len(records), BATCH):
        chunk = [{**r, **(extra or {})} for r in records[i : i + BATCH]]
        answer = client.post("/v1/models/spam/predict", json={"records": chunk})
        answer.raise_for_status()
        body = answer.json()
        for j, (prediction, version, request_id) in enumerate(
            zip(body["predictions"], body["versions"], body["request_ids"], strict=True)
        ):
            label = truth[i + j]
            versions[f"v{version}"] = versions.get(f"v{version}", 0) + 1
            hits += int(prediction == label)
            labels.append({"request_id": request_id, "label": label})
    client.post("/v1/feedback", json={"labels": labels}).raise_for_status()
    return Traffic(len(records), versions, hits / max(len(records), 1), [r["request_id"] for r in labels])


def add_leaky_feature(root: Path, world: World, rows: int = 2400) -> None:
    """A teammate adds `user_reports` and a fresh export of recent mail that carries it.

    Users report spam *after* it was delivered, so the count is known for every exported email but is
    always 0 when a new email arrives at the server: target leakage. Offline the model looks perfect.
    """
    path = root / "mlfactory.yaml"
    config = yaml.safe_load(path.read_text())
    config["sources"]["emails"]["columns"]["user_reports"] = {"type": "integer", "min": 0}
    config["models"]["spam"]["features"]["numeric"].append("user_reports")
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    now = pd.Timestamp.now(tz="UTC").floor("s")
    export = world.world.emails(
        rows, start=(now - pd.Timedelta(seconds=30)).to_pydatetime(), end=now.to_pydatetime(), drift=0.8
    )  # the mail that just arrived
    data = pd.read_csv(root / "data" / "emails.csv")
    data = pd.concat([data, export], ignore_index=True)
    data["user_reports"] = data["is_spam"] * world.rng.integers(1, 4, len(data))
    data.to_csv(root / "data" / "emails.csv", index=False)


@dataclass
class Story:
    """Runs the chapters and collects what the controller did in each."""

    root: Path
    seed: int
    say: Callable[[str], None]
    steps: list[tuple[str, list[Step]]] = field(default_factory=list)
    log: PredictionReader = field(init=False)

    def tick(self, project: Project, chapter: str) -> list[Step]:
        """One controller pass, as `mlfactory controller run` makes every minute: it monitors the newest
        traffic by itself, then moves each rollout one step."""
        steps = Controller(project, owner="quickstart").tick()
        self.steps.append((chapter, steps))
        for s in steps:
            for r in s.payload.get("monitoring", []):
                drifted = ", ".join(r["drifted"][:4]) or ("no column" if r["status"] == "ok" else r["status"])
                share = r["drift_share"]
                self.say(
                    f"    monitoring: {s.model}/{r['version']} {r['route']}, last {r['rows']} rows: drifted "
                    f"share {'-' if share is None else f'{share:.2f}'} ({drifted})"
                )
            self.say(f"    controller: {s.action} — {s.reason}")
        return steps

    def run(self) -> dict[str, Any]:
        world = World(self.seed)
        server_cfg = ServerConfig(reload_interval=0.2)
        server_cfg = server_cfg.model_copy(
            update={"prediction_log": server_cfg.prediction_log.model_copy(update={"flush_interval": 0.2})}
        )
        settings = ServerSettings(
            project=self.root, env={}, server=server_cfg, actor="quickstart-users", routing_seed=self.seed
        )
        self.log = open_prediction_reader(load_project_config(self.root, env={}), server_cfg.prediction_log)
        server: RunningServer = start_server(settings)
        try:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                return self._chapters(world, client)
        finally:
            server.stop()

    def _burst(
        self,
        client: httpx.Client,
        world: World,
        n: int,
        drift: float,
        what: str,
        extra: dict[str, Any] | None = None,
    ) -> Traffic:
        traffic = send(client, world.emails(n, drift), extra)
        shares = ", ".join(f"{v} {c}" for v, c in sorted(traffic.by_version.items()))
        self.say(f"  {what}: {traffic.rows} emails ({shares}), live accuracy {traffic.accuracy:.3f}")
        if not self.log.wait_for(traffic.request_ids):  # the server writes its log every 0.2 s
            raise MLFactoryError("the server did not write its prediction log within 30 s")
        return traffic

    def _wait_for_routes(self, client: httpx.Client, expect: set[int]) -> None:
        """The server picks up route changes within its reload interval; wait for it."""
        for _ in range(100):
            routes = client.get("/v1/models/spam").json().get("routes", [])
            if {r["version"] for r in routes} == expect:
                return
            time.sleep(0.05)

    def _tick_and_follow(self, project: Project, client: httpx.Client, chapter: str) -> list[Step]:
        steps = self.tick(project, chapter)
        champion = project.version("spam@production").version
        for s in steps:
            if s.action == "canary":
                rollout = project.rollout("spam")
                self._wait_for_routes(client, {champion, rollout.challenger or champion})
            elif s.action in ("promoted", "rolled_back"):
                self._wait_for_routes(client, {champion})
        return steps

    def _chapters(self, world: World, client: httpx.Client) -> dict[str, Any]:
        with open_project(self.root, env={}, actor="quickstart") as project:
            self.say("[bold]1. Business as usual[/]: emails arrive, users label them, the controller watches")
            for _ in range(2):
                self._burst(client, world, 400, 0.0, "old world")
            self._tick_and_follow(project, client, "calm")

            self.say(
                "[bold]2. The world changes[/]: new spam words, new sender domains, invoices turn into spam"
            )
            for _ in range(6):
                self._burst(client, world, 400, 0.8, "new world")
            self._tick_and_follow(project, client, "drift")

            self.say("[bold]3. Canary[/]: the challenger answers part of the live traffic")
            self._burst(client, world, 700, 0.8, "new world")
            self._tick_and_follow(project, client, "canary")
            self._burst(client, world, 500, 0.8, "new world")
            self._tick_and_follow(project, client, "guard")

        self.say("[bold]4. A broken challenger[/]: a teammate adds `user_reports`, known only after delivery")
        add_leaky_feature(self.root, world)
        with open_project(self.root, env={}, actor="quickstart") as project:
            self._tick_and_follow(project, client, "leak")
            self._burst(client, world, 700, 0.8, "new world", extra={"user_reports": 0})
            self._tick_and_follow(project, client, "caught")
            production = project.version("spam@production").ref
        return {"production": production, "steps": self.steps}
