"""A canary's sample-size plan, as a typed value (kept apart from the analysis, so reading a stored rollout
does not load numpy and scipy)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CanaryPlan:
    """How many labelled rows the canary's accuracy comparison needs, at the champion's accuracy.

    The field names are the keys of the stored JSON (the rollout's data, the ``rollout.canary`` event and
    ``mlfactory controller status --json``).

    Attributes:
        metric: the compared metric (``accuracy``).
        champion_accuracy: the champion's accuracy the plan assumes (its holdout accuracy, clipped).
        allowed_regression: the policy's ``max_regression`` for accuracy.
        power: the chance of catching a challenger worse by twice the allowed regression.
        labelled_canary_rows_to_catch_2x_regression: labelled canary rows that catch such a challenger.
        labelled_canary_rows_to_promote_an_equal_model: labelled canary rows that promote an equal one.
        labelled_requests_to_catch_2x_regression: the same in requests at the canary's weight.
    """

    metric: str
    champion_accuracy: float
    allowed_regression: float
    power: float
    labelled_canary_rows_to_catch_2x_regression: int
    labelled_canary_rows_to_promote_an_equal_model: int
    labelled_requests_to_catch_2x_regression: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CanaryPlan:
        """The plan from its stored JSON; KeyError when a field is missing."""
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)})

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
