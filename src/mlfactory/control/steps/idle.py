"""The idle step: triggers, then the cooldown and the daily cap, then a retrain."""

from __future__ import annotations

from datetime import datetime, timedelta

from mlfactory.config import PolicyConfig
from mlfactory.control.rollout import RolloutData, RolloutView
from mlfactory.control.steps.base import Deps, Outcome, S, Step, move
from mlfactory.control.triggers import Fired
from mlfactory.entities import PRODUCTION

DAY = 86400.0


def _retrains_since(d: Deps, name: str, seconds: float) -> list[datetime]:
    since = d.clock() - timedelta(seconds=seconds)
    return [e.time for e in d.events.list_events(model=name, since=since, kinds=["rollout.retraining"])]


def suppression(d: Deps, name: str, policy: PolicyConfig) -> str | None:
    """Why no retrain may start now (the cooldown since the last one, or the daily cap), if so."""
    cooling = _retrains_since(d, name, policy.cooldown)
    if cooling:
        return f"cooldown: last retrain {cooling[-1]:%H:%M:%S} UTC, cooldown {policy.cooldown:.0f} s"
    today = _retrains_since(d, name, DAY)
    if len(today) >= policy.max_retrains_per_day:
        return f"cap: {len(today)} retrains in the last 24 h (max {policy.max_retrains_per_day})"
    return None


def _suppressed(d: Deps, r: RolloutView, fired: list[Fired], why: str) -> Outcome:
    reason = "; ".join(f.reason for f in fired)
    last = d.events.list_events(model=r.model, limit=1)
    if not last or last[-1].kind != "controller.suppressed":  # one event per suppression, not per pass
        d.events.add_event(
            "controller.suppressed",
            actor=d.actor,
            model=r.model,
            payload={"triggers": [f.kind for f in fired]},
            reason=f"{reason} ({why})",
        )
    return Outcome(r, Step(r.model, r.state.value, "suppressed", why))


def idle(d: Deps, r: RolloutView, policy: PolicyConfig) -> Outcome:
    """Idle: with a production version to improve on and a trigger firing, start a retrain (the rollout
    records when, and which controller runs it) unless the cooldown or the daily cap holds it back
    (recorded once as ``controller.suppressed``).

    Uses the registry (``versions``), the triggers, the event log and the clock.
    """
    name = r.model
    champion = d.need_versions().champion(name)
    if champion is None:
        waiting = f"'{name}' has no {PRODUCTION} version to improve on; promote one first"
        return Outcome(r, Step(name, r.state.value, "waiting", waiting))
    fired = d.need_triggers()(name, champion)
    if not fired:
        return Outcome(r, Step(name, r.state.value, "watching", "no trigger fired"))
    why = suppression(d, name, policy)
    if why is not None:
        return _suppressed(d, r, fired, why)
    moved = move(
        d,
        r,
        S.RETRAINING,
        "; ".join(f.reason for f in fired),
        champion=champion.version,
        data=RolloutData(
            triggers=tuple(f.kind for f in fired), retrain_started=d.clock(), retrain_by=d.actor
        ),
        payload={"triggers": [{"kind": f.kind, **f.details} for f in fired]},
    )
    return Outcome(moved)
