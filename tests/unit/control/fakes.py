"""In-memory fakes of the rollout steps' ports: the metadata store is the real ``memory://`` one; the
registry, routing policy, prediction log, trainer and clock are a few lines each. No model is trained."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from mlfactory.config import PolicyConfig
from mlfactory.control.rollout import RolloutData, RolloutView
from mlfactory.control.steps import Deps, Trained
from mlfactory.control.steps.ports import Trainer as TrainerPort
from mlfactory.control.triggers import Fired
from mlfactory.entities import GateResult, Lineage, ModelVersion, Signature, VersionStatus
from mlfactory.errors import NotFoundError
from mlfactory.stores import MetadataStore, open_metadata_store

MODEL = "spam"
ACTOR = "controller:test"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def version(
    n: int,
    *,
    accuracy: float = 0.9,
    dataset: str = "emails@1",
    created: datetime = T0,
    status: VersionStatus = VersionStatus.READY,
) -> ModelVersion:
    """A registered version as the registry returns it (no artifact behind it)."""
    return ModelVersion(
        name=MODEL,
        version=n,
        status=status,
        run_id=None,
        artifact="0" * 64,
        flavor="sklearn",
        signature=Signature(classes=(0, 1)),
        metrics={"accuracy": accuracy},
        gates=(),
        profile={},
        lineage=Lineage(dataset=dataset, feedback_rows=3, rows={"source": 100}),
        card="",
        created_at=created,
    )


class Clock:
    """The steps' clock, moved by hand: it starts at the real time, so events the memory store stamps
    with the real time fall inside the windows the steps compute."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Versions:
    """The registry: versions by number, production as a stack (rollback pops it)."""

    def __init__(self, *versions: ModelVersion, production: int | None = None) -> None:
        self.by = {v.version: v for v in versions}
        self.stack = [] if production is None else [production]
        self.promoted: list[tuple[int, str]] = []
        self.rolled_back: list[str] = []

    def champion(self, name: str) -> ModelVersion | None:
        return self.by[self.stack[-1]] if self.stack else None

    def get(self, name: str, version: int) -> ModelVersion:
        if version not in self.by:
            raise NotFoundError(f"no {name}/{version}")
        return self.by[version]

    def promote(self, name: str, version: int, *, reason: str) -> None:
        self.stack.append(version)
        self.promoted.append((version, reason))

    def rollback(self, name: str, *, reason: str) -> None:
        self.stack.pop()
        self.rolled_back.append(reason)


class Routes:
    """The routing policy: what is on it now, and every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.policy: dict[str, Any] = {}

    def shadow(self, name: str, version: int | None, *, reason: str) -> None:
        self.calls.append(("shadow", version))
        if version is None:
            self.policy.pop("shadow", None)
        else:
            self.policy["shadow"] = version

    def canary(self, name: str, version: int, *, weight: float, key: str | None, reason: str) -> None:
        self.calls.append(("canary", version, weight))
        self.policy["canary"] = (version, weight)

    def clear(self, name: str, *, reason: str) -> None:
        if not self.policy:
            raise NotFoundError(f"model '{name}' has no routing policy to clear")
        self.calls.append(("clear",))
        self.policy = {}


def rows(
    n: int, *, correct: int | None = None, labelled: int | None = None, latency: float = 5.0
) -> pd.DataFrame:
    """``n`` logged rows predicting 1; ``correct`` of the ``labelled`` first ones have label 1, the rest 0."""
    labelled = n if labelled is None else labelled
    correct = labelled if correct is None else correct
    labels: list[Any] = [1] * correct + [0] * (labelled - correct) + [None] * (n - labelled)
    return pd.DataFrame({"prediction": [1] * n, "label": labels, "latency_ms": [latency] * n})


class Traffic:
    """The prediction log: answered rows and labelled frames per (version, route)."""

    def __init__(self) -> None:
        self.answered_rows: dict[tuple[int, str], int] = {}
        self.frames: dict[tuple[int, str], pd.DataFrame] = {}

    def answered(self, name: str, *, version: int, route: str, since: datetime) -> int:
        return self.answered_rows.get((version, route), 0)

    def with_feedback(self, name: str, *, version: int, route: str, since: datetime | None) -> pd.DataFrame:
        return self.frames.get((version, route), rows(0))


@dataclass
class Trainer:
    """Returns the next challenger (passing or failing its gates), or raises ``error``."""

    challenger: ModelVersion
    failed: list[str] = field(default_factory=list)
    error: Exception | None = None
    calls: int = 0

    def __call__(self, name: str, policy: PolicyConfig) -> Trained:
        self.calls += 1
        if self.error is not None:
            raise self.error
        gates = tuple(
            GateResult(metric="accuracy", rule="accuracy >= 0.9", value=0.81, passed=False, detail=why)
            for why in self.failed
        )
        return Trained(
            dataset="emails@2",
            version=self.challenger,
            metrics={"accuracy": 0.93, "confusion": [[1, 0], [0, 1]]},
            gates=gates
            or (
                GateResult(
                    metric="accuracy",
                    rule="accuracy >= 0.9",
                    value=0.93,
                    passed=True,
                    detail="accuracy = 0.9300",
                ),
            ),
            passed=not self.failed,
        )


@dataclass
class Retrains:
    """Background retrains run in the caller's thread: at once, or when ``finish`` is called while
    ``hold`` is set."""

    hold: bool = False
    jobs: dict[str, Future[Trained]] = field(default_factory=dict)
    held: dict[str, Callable[[], Trained]] = field(default_factory=dict)
    started: int = 0

    def start(self, name: str, policy: PolicyConfig, train: TrainerPort) -> Future[Trained]:
        self.started += 1
        self.jobs[name] = Future()
        self.held[name] = lambda: train(name, policy)
        if not self.hold:
            self.finish(name)
        return self.jobs[name]

    def finish(self, name: str) -> None:
        job = self.jobs[name]
        try:
            job.set_result(self.held.pop(name)())
        except Exception as exc:
            job.set_exception(exc)

    def job(self, name: str) -> Future[Trained] | None:
        return self.jobs.get(name)

    def collect(self, name: str) -> None:
        self.jobs.pop(name, None)


@dataclass
class World:
    """One model's world as the steps see it, with the ``Deps`` over it."""

    store: MetadataStore
    clock: Clock
    versions: Versions
    routes: Routes
    traffic: Traffic
    trainer: Trainer
    fired: list[Fired]
    retrains: Retrains = field(default_factory=Retrains)

    @property
    def deps(self) -> Deps:
        return Deps(
            rollouts=self.store,
            events=self.store,
            clock=self.clock,
            actor=ACTOR,
            versions=self.versions,
            routes=self.routes,
            traffic=self.traffic,
            trainer=self.trainer,
            retrains=self.retrains,
            triggers=lambda name, champion: list(self.fired),
        )

    def put(
        self, state: str, *, challenger: int | None = 2, champion: int | None = 1, **data: Any
    ) -> RolloutView:
        """Store the rollout in ``state`` (as a controller left it) and read it back typed."""
        current = self.store.get_rollout(MODEL)
        stored = self.store.save_rollout(
            MODEL,
            expect_revision=current.revision,
            state=state,
            challenger=challenger,
            champion=champion,
            data=RolloutData(**data).to_json(),
            event=f"rollout.{state}",
            actor="test",
            reason="set up",
        )
        return RolloutView.of(stored)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.store.list_events(model=MODEL) if e.reason != "set up"]

    def last(self, kind: str) -> Any:
        return self.store.list_events(model=MODEL, kinds=[kind])[-1]


def new_world() -> World:
    """Production at version 1, version 2 registered (the challenger a retrain returns), nothing fired."""
    return World(
        store=open_metadata_store("memory://"),
        clock=Clock(),
        versions=Versions(version(1), version(2, accuracy=0.93), production=1),
        routes=Routes(),
        traffic=Traffic(),
        trainer=Trainer(version(2, accuracy=0.93)),
        fired=[],
    )


def policy(**fields: Any) -> PolicyConfig:
    """A model policy from the project file's keys."""
    return PolicyConfig.model_validate(fields)
