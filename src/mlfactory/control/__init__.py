"""The controller that closes the loop, its rollout state machine, and the maturity assessment."""

from mlfactory.control.canary import Verdict, analyze_canary
from mlfactory.control.controller import Controller, Step
from mlfactory.control.maturity import Maturity, assess
from mlfactory.control.states import TRANSITIONS, RolloutState, check_transition

__all__ = [
    "TRANSITIONS",
    "Controller",
    "Maturity",
    "RolloutState",
    "Step",
    "Verdict",
    "analyze_canary",
    "assess",
    "check_transition",
]
