"""The controller that closes the loop, its rollout state machine, and the maturity assessment."""

from typing import TYPE_CHECKING

from mlfactory.control.states import TRANSITIONS, RolloutState, check_transition
from mlfactory.lazy import lazy_names

if TYPE_CHECKING:
    from mlfactory.control.canary import Verdict, analyze_canary
    from mlfactory.control.controller import Controller
    from mlfactory.control.maturity import Maturity, assess
    from mlfactory.control.steps import Step

# these pull in numpy, pandas, scipy and the monitoring stack: loaded on first use, so a command that only
# reads a rollout (`mlfactory controller status`) stays light
_LAZY = {
    "Verdict": "mlfactory.control.canary",
    "analyze_canary": "mlfactory.control.canary",
    "Controller": "mlfactory.control.controller",
    "Maturity": "mlfactory.control.maturity",
    "assess": "mlfactory.control.maturity",
    "Step": "mlfactory.control.steps",
}


__getattr__ = lazy_names(__name__, _LAZY)


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
