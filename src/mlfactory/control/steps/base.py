"""What every rollout step shares: its outcome, its dependencies, and moving the rollout."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlfactory.config import PolicyConfig
from mlfactory.control.rollout import RolloutData, RolloutView
from mlfactory.control.states import RolloutState, check_transition
from mlfactory.control.steps.ports import (
    Clock,
    Retrains,
    Routes,
    Traffic,
    Trainer,
    TriggerCheck,
    Versions,
)
from mlfactory.entities import ModelVersion
from mlfactory.errors import MLFactoryError, NotFoundError
from mlfactory.stores.metadata import ControlStore, EventsStore

S = RolloutState


@dataclass(frozen=True)
class Step:
    """What one pass did for one model."""

    model: str
    state: str
    action: str
    reason: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """The rollout after a step, and the step to report; no step means the pass goes on with the new state
    at once (idle → retraining → gated → shadow or canary happen in one pass)."""

    rollout: RolloutView
    step: Step | None = None


def _quiet(message: str) -> None:
    """Progress nobody asked to see."""


@dataclass(frozen=True)
class Deps:
    """What the steps read and write. Each step uses a few of these (its docstring says which); tests pass
    fakes for those and leave the rest unset."""

    rollouts: ControlStore
    events: EventsStore
    clock: Clock
    actor: str
    versions: Versions | None = None
    routes: Routes | None = None
    traffic: Traffic | None = None
    trainer: Trainer | None = None
    retrains: Retrains | None = None
    triggers: TriggerCheck | None = None
    progress: Callable[[str], None] = _quiet

    # each accessor names the missing dependency instead of failing on None somewhere later
    def need_versions(self) -> Versions:
        assert self.versions is not None, "this step needs the registry (Deps.versions)"
        return self.versions

    def need_routes(self) -> Routes:
        assert self.routes is not None, "this step needs the routing policy (Deps.routes)"
        return self.routes

    def need_traffic(self) -> Traffic:
        assert self.traffic is not None, "this step needs the prediction log (Deps.traffic)"
        return self.traffic

    def need_trainer(self) -> Trainer:
        assert self.trainer is not None, "this step needs a trainer (Deps.trainer)"
        return self.trainer

    def need_retrains(self) -> Retrains:
        assert self.retrains is not None, "this step needs the background retrains (Deps.retrains)"
        return self.retrains

    def need_triggers(self) -> TriggerCheck:
        assert self.triggers is not None, "this step needs the triggers (Deps.triggers)"
        return self.triggers


StepFn = Callable[[Deps, RolloutView, PolicyConfig], Outcome]


def describe(exc: BaseException) -> str:
    """An error as one line for events and steps: the message, and the type when it is not one of ours."""
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, MLFactoryError) else f"{type(exc).__name__}: {text}"


def move(
    d: Deps,
    r: RolloutView,
    target: RolloutState,
    reason: str,
    *,
    challenger: int | None = None,
    champion: int | None = None,
    data: RolloutData | None = None,
    payload: dict[str, Any] | None = None,
) -> RolloutView:
    """Move the rollout to ``target`` (if the transition table allows it) by compare-and-set on the
    revision it was read at, logging ``rollout.<target>``; back at idle its data is cleared."""
    check_transition(r.state, target)
    kept = RolloutData() if target == S.IDLE else (r.data if data is None else data)
    stored = d.rollouts.save_rollout(
        r.model,
        expect_revision=r.revision,
        state=target.value,
        challenger=r.challenger if challenger is None else challenger,
        champion=r.champion if champion is None else champion,
        data=kept.to_json(),
        event=f"rollout.{target.value}",
        actor=d.actor,
        reason=reason,
        payload=payload,
    )
    return RolloutView.of(stored)


def end(
    d: Deps, r: RolloutView, via: RolloutState, reason: str, payload: dict[str, Any], *, then: str
) -> RolloutView:
    """Finish the rollout through ``via`` (rejected, failed, rolled back) and back to idle in one pass."""
    return move(d, move(d, r, via, reason, payload=payload), S.IDLE, then)


def roll_back(d: Deps, r: RolloutView, reason: str, payload: dict[str, Any]) -> Outcome:
    """Take the challenger off traffic (production never moved) and end the rollout."""
    with contextlib.suppress(NotFoundError):  # no routing policy left to clear
        d.need_routes().clear(r.model, reason="controller: rollback")
    idle = end(d, r, S.ROLLED_BACK, reason, payload, then="production keeps serving the champion")
    return Outcome(idle, Step(r.model, idle.state.value, "rolled_back", reason, payload))


def classes_of(version: ModelVersion) -> list[Any] | None:
    """A classifier's classes in the order its scores use, as the analyses take them."""
    classes = version.signature.classes
    return None if classes is None else list(classes)


def load_failure(d: Deps, name: str, version: int, since: datetime) -> str | None:
    """Why a server could not load ``version`` since ``since``, if one reported it."""
    for e in d.events.list_events(model=name, since=since, kinds=["serving.load_failed"]):
        if e.payload.get("version") == version:
            return e.reason
    return None


def failed_rows(d: Deps, name: str, since: datetime) -> dict[tuple[int, str], int]:
    """Rows each (version, route) failed to predict since ``since``, as every server reported them."""
    out: dict[tuple[int, str], int] = {}
    for e in d.events.list_events(model=name, since=since, kinds=["serving.predict_failed"]):
        key = (int(e.payload["version"]), str(e.payload["route"]))
        out[key] = out.get(key, 0) + int(e.payload["rows"])
    return out
