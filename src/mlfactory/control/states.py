"""The rollout lifecycle of one model, as an enum and an explicit transition table.

idle ──▶ retraining ──▶ gated ──▶ shadow ──▶ canary ──▶ promoted ──▶ idle
             │            │         │          │           │
             ▼            │         ▼          ▼           ▼
          rejected        └──────▶ canary   rolled_back ◀──┘ (guard window)
          failed                               │
(rejected, failed, rolled_back) ──▶ idle ◀─────┘
"""

from __future__ import annotations

from enum import StrEnum

from mlfactory.errors import ConflictError


class RolloutState(StrEnum):
    IDLE = "idle"
    RETRAINING = "retraining"
    REJECTED = "rejected"  # the challenger failed a gate
    FAILED = "failed"  # retraining itself failed (data, fitting, packaging)
    GATED = "gated"
    SHADOW = "shadow"
    CANARY = "canary"
    PROMOTED = "promoted"  # in production, guard window open
    ROLLED_BACK = "rolled_back"


S = RolloutState
TRANSITIONS: dict[RolloutState, frozenset[RolloutState]] = {
    S.IDLE: frozenset({S.RETRAINING}),
    S.RETRAINING: frozenset({S.GATED, S.REJECTED, S.FAILED}),
    S.REJECTED: frozenset({S.IDLE}),
    S.FAILED: frozenset({S.IDLE}),
    S.GATED: frozenset({S.SHADOW, S.CANARY, S.ROLLED_BACK}),
    S.SHADOW: frozenset({S.CANARY, S.ROLLED_BACK}),
    S.CANARY: frozenset({S.PROMOTED, S.ROLLED_BACK}),
    S.PROMOTED: frozenset({S.IDLE, S.ROLLED_BACK}),
    S.ROLLED_BACK: frozenset({S.IDLE}),
}


def check_transition(current: RolloutState | str, target: RolloutState | str) -> RolloutState:
    """The target state, if the table allows moving there from ``current``; ConflictError otherwise."""
    src, dst = RolloutState(current), RolloutState(target)
    if dst not in TRANSITIONS[src]:
        allowed = ", ".join(sorted(TRANSITIONS[src])) or "nothing"
        raise ConflictError(
            f"a rollout cannot move from '{src}' to '{dst}' (from '{src}' it can go to: {allowed})"
        )
    return dst
