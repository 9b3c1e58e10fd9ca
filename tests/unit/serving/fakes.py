"""Stand-ins for a loaded version, the prediction log and the metadata store: serving tests with no model."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlfactory.inputs import Batch, InputSpec
from mlfactory.stores.predictions import RequestIds

SIGNATURE = {"inputs": [{"name": "x", "type": "number"}, {"name": "y", "type": "number"}]}


class FakeServed:
    """A version that predicts ``version * 10`` for every row (or fails), counting its calls."""

    def __init__(self, number: int, name: str = "spam", *, fails: bool = False) -> None:
        self.name = name
        self.number = number
        self.ref = f"{name}/{number}"
        self.spec = InputSpec(SIGNATURE)
        self.features = None
        self.classes = None
        self.fails = fails
        self.calls: list[int] = []
        self.closed = False

    def same_inputs(self, other: Any) -> bool:
        return bool(self.spec.names == other.spec.names and self.spec.kinds == other.spec.kinds)

    async def predict(self, batch: Batch) -> tuple[np.ndarray, np.ndarray | None]:
        self.calls.append(batch.n)
        if self.fails:
            from mlfactory.serving.served import ModelFailedError

            raise ModelFailedError(f"{self.ref} failed")
        return np.full(batch.n, float(self.number * 10)), None

    def close(self) -> None:
        self.closed = True


class FakeLog:
    """Keeps every append's keyword arguments."""

    def __init__(self) -> None:
        self.appends: list[dict[str, Any]] = []
        self.ids = RequestIds()

    def append(self, **row: Any) -> bool:
        self.appends.append(row)
        return True


class FakeMetadata:
    """Keeps events; answers ``routing_state`` with what a test set."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.state: tuple[dict[tuple[str, str], int], dict[str, dict[str, Any]], dict[str, int]] = (
            {},
            {},
            {},
        )

    def add_event(self, kind: str, **fields: Any) -> None:
        self.events.append({"kind": kind, **fields})

    def routing_state(self) -> tuple[dict[tuple[str, str], int], dict[str, dict[str, Any]], dict[str, int]]:
        return self.state
