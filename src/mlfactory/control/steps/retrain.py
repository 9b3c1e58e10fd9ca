"""The retraining step: a retrain runs in the background while the passes go on; when it finishes, the
challenger's gates decide whether it goes live."""

from __future__ import annotations

import dataclasses
import logging
from concurrent.futures import Future
from typing import Any

from mlfactory.config import PolicyConfig
from mlfactory.control.rollout import RolloutView
from mlfactory.control.steps.base import Deps, Outcome, S, Step, describe, end, move
from mlfactory.control.steps.ports import Trained
from mlfactory.errors import ConflictError, MLFactoryError

log = logging.getLogger("mlfactory.controller")

KEEPS_SERVING = "production keeps serving the champion"


def _payload(trained: Trained) -> dict[str, Any]:
    """What the gated or rejected event records about the challenger."""
    v = trained.version
    return {
        "version": v.version,
        "dataset": trained.dataset,
        "feedback_rows": v.lineage.feedback_rows,
        "rows": dict(v.lineage.rows),
        "metrics": {k: x for k, x in trained.metrics.items() if isinstance(x, float)},
        "gates": [g.to_json() for g in trained.gates],
    }


def _elapsed(d: Deps, r: RolloutView) -> str:
    started = r.data.retrain_started
    return "" if started is None else f" after {(d.clock() - started).total_seconds():.1f} s"


def _running(d: Deps, r: RolloutView) -> Outcome:
    """The retrain is still running: the pass moves on to the other models."""
    started = r.data.retrain_started
    payload = {} if started is None else {"started": started.isoformat()}
    since = "" if started is None else f" since {started:%H:%M:%S} UTC"
    why = f"retrain running in the background{since}"
    return Outcome(r, Step(r.model, r.state.value, "retraining", why, payload))


def _abandoned(d: Deps, r: RolloutView) -> Outcome:
    """The rollout says a retrain runs, but not in this controller (which holds the lease now): the one that
    started it stopped, and its job went with it. The rollout fails as abandoned; the cooldown since that
    retrain started spaces out the next one, so a retrain that keeps killing its controller cannot loop."""
    by = r.data.retrain_by or "an earlier controller"
    at = "" if r.data.retrain_started is None else f" at {r.data.retrain_started:%H:%M:%S} UTC"
    why = f"retraining abandoned: {by} started it{at} and stopped before it finished"
    payload = {"abandoned": True, "retrain_by": r.data.retrain_by}
    idle = end(d, r, S.FAILED, why, payload, then=KEEPS_SERVING)
    return Outcome(idle, Step(r.model, idle.state.value, "retrain_abandoned", why))


def _record(d: Deps, r: RolloutView, job: Future[Trained]) -> Outcome:
    """The finished retrain's outcome: gated, rejected (then idle) or failed (then idle)."""
    name = r.model
    exc = job.exception()
    if exc is not None:  # whatever broke, the rollout must not stay in `retraining`
        if not isinstance(exc, MLFactoryError):
            log.error("retraining %s failed", name, exc_info=exc)
        why = describe(exc)
        payload = {"error": type(exc).__name__}
        idle = end(d, r, S.FAILED, f"retraining failed: {why}", payload, then=KEEPS_SERVING)
        return Outcome(idle, Step(name, idle.state.value, "retrain_failed", why))
    trained = job.result()
    v = trained.version
    d.progress(f"{name}: {v.ref} registered as {v.status}{_elapsed(d, r)}")
    payload = _payload(trained)
    if not trained.passed:
        failed = "; ".join(trained.failed)
        reason = f"challenger {v.ref} failed its gates: {failed}"
        rejected = move(d, r, S.REJECTED, reason, challenger=v.version, payload=payload)
        idle = move(d, rejected, S.IDLE, "rejected challenger goes no further")
        return Outcome(idle, Step(name, idle.state.value, "rejected", failed, payload))
    against = r.champion and f"{name}/{r.champion}"
    gated = move(
        d,
        r,
        S.GATED,
        f"challenger {v.ref} passed every gate against {against}",
        challenger=v.version,
        data=dataclasses.replace(r.data, dataset=trained.dataset),
        payload=payload,
    )
    return Outcome(gated)


def retrain(d: Deps, r: RolloutView, policy: PolicyConfig) -> Outcome:
    """Retraining: the pass that moved the rollout here starts the retrain in the background and goes on;
    later passes report it running until it finishes. Then a challenger that passes every gate is
    ``gated`` (and the pass goes on to put it live); one that fails a gate is ``rejected``, a retrain that
    breaks is ``failed``; both end back at idle with production untouched. A retrain whose controller is
    gone is failed as abandoned.

    Uses the background retrains, the trainer, the progress callback, the clock and the rollout store.
    """
    retrains = d.need_retrains()
    job = retrains.job(r.model)
    if job is None:
        if r.data.retrain_by != d.actor:
            return _abandoned(d, r)
        job = retrains.start(r.model, policy, d.need_trainer())
    if not job.done():
        return _running(d, r)
    try:
        outcome = _record(d, r, job)
    except ConflictError:  # another controller moved the rollout: this outcome is not ours to record
        retrains.collect(r.model)
        raise
    retrains.collect(r.model)  # kept on any other error (a store away), so the next pass records it
    return outcome
