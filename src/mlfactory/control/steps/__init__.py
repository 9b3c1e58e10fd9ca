"""One step per rollout state, and the table the controller dispatches on.

Each step takes its dependencies (:class:`Deps`), the rollout as read (:class:`RolloutView`) and the model's
policy, and returns the rollout after it and the step to report (:class:`Outcome`); every move goes through
:func:`mlfactory.control.states.check_transition`.
"""

from __future__ import annotations

from mlfactory.config import PolicyConfig
from mlfactory.control.rollout import RolloutView
from mlfactory.control.states import RolloutState
from mlfactory.control.steps.base import Deps, Outcome, Step, StepFn, move
from mlfactory.control.steps.guard import guard
from mlfactory.control.steps.idle import idle
from mlfactory.control.steps.live import canary, gated, shadow
from mlfactory.control.steps.ports import Trained
from mlfactory.control.steps.retrain import retrain

S = RolloutState


def finished(d: Deps, r: RolloutView, policy: PolicyConfig) -> Outcome:
    """A rollout left in a final state (a controller stopped between two moves): back to idle."""
    why = f"rollout finished as {r.state.value}"
    done = move(d, r, S.IDLE, why)
    return Outcome(done, Step(r.model, done.state.value, "reset", why))


STEPS: dict[RolloutState, StepFn] = {
    S.IDLE: idle,
    S.RETRAINING: retrain,
    S.GATED: gated,
    S.SHADOW: shadow,
    S.CANARY: canary,
    S.PROMOTED: guard,
    S.REJECTED: finished,
    S.FAILED: finished,
    S.ROLLED_BACK: finished,
}


def advance(d: Deps, r: RolloutView, policy: PolicyConfig) -> Step:
    """Run the step of the rollout's state, and of each state it moves to without a step to report (at most
    one of each state per pass)."""
    for _ in STEPS:
        outcome = STEPS[r.state](d, r, policy)
        if outcome.step is not None:
            return outcome.step
        r = outcome.rollout
    raise RuntimeError(f"the rollout of '{r.model}' did not settle in one pass (now {r.state.value})")


__all__ = ["STEPS", "Deps", "Outcome", "Step", "Trained", "advance", "finished"]
