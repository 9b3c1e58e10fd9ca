"""The retraining step: train a challenger, then its gates decide whether it goes live."""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

from mlfactory.config import PolicyConfig
from mlfactory.control.rollout import RolloutView
from mlfactory.control.steps.base import Deps, Outcome, S, Step, describe, end, move
from mlfactory.control.steps.ports import Trained
from mlfactory.errors import MLFactoryError

log = logging.getLogger("mlfactory.controller")


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


def retrain(d: Deps, r: RolloutView, policy: PolicyConfig) -> Outcome:
    """Retraining: a challenger that passes every gate is ``gated`` (and the pass goes on to put it live);
    one that fails a gate is ``rejected``, a retrain that breaks is ``failed``; both end back at idle with
    production untouched.

    Uses the trainer, the progress callback and the rollout store.
    """
    train = d.need_trainer()
    name = r.model
    started = time.monotonic()
    try:
        trained = train(name, policy)
    except Exception as exc:  # whatever broke, the rollout must not stay in `retraining`
        if not isinstance(exc, MLFactoryError):
            log.exception("retraining %s failed", name)
        why = describe(exc)
        idle = end(
            d,
            r,
            S.FAILED,
            f"retraining failed: {why}",
            {"error": type(exc).__name__},
            then="production keeps serving the champion",
        )
        return Outcome(idle, Step(name, idle.state.value, "retrain_failed", why))
    v = trained.version
    d.progress(f"{name}: {v.ref} registered as {v.status} after {time.monotonic() - started:.1f} s")
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
