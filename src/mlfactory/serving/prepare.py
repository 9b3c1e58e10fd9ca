"""A routed request's rows made ready for each version: online features merged in, then checked.

When every version the rows go to takes the same inputs, the request is completed and checked once; otherwise
each group's rows are completed and checked on their own, so one version's missing-feature policy never
refuses rows another version answers.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from mlfactory.inputs import Batch, OnInvalid, Payload, payload_rows, take_payload
from mlfactory.serving.served import ModelUnavailableError, ServedVersion

if TYPE_CHECKING:
    from mlfactory.serving.lookup import OnlineFeatures


class Group(NamedTuple):
    """The rows of a request one version answers: the version, the route's name, and the rows (None: all)."""

    served: ServedVersion
    route: str
    rows: np.ndarray | None

    def positions(self, n: int) -> list[int]:
        """The request rows this group holds, in order."""
        return list(range(n)) if self.rows is None else self.rows.tolist()


@dataclass(frozen=True)
class Prepared:
    """Each group's checked rows (``subs``, in group order), the whole request's checked rows when they were
    checked once (``full``, reused by the shadow), and each row's online feature status (None: no lookup)."""

    full: Batch | None
    subs: list[Batch]
    statuses: list[str | None] | None


class Preparer:
    """Completes rows with online features and checks them against a version's inputs.

    Args:
        features: the online feature store, for versions that declare a feature service.
        max_rows: the most rows one request may carry.
    """

    def __init__(self, features: OnlineFeatures | None, max_rows: int) -> None:
        self.features = features
        self.max_rows = max_rows

    async def complete(self, sv: ServedVersion, payload: Payload, n: int) -> tuple[Payload, list[str] | None]:
        """The payload with ``sv``'s online features merged in and each row's status (unchanged, None,
        for a version without a feature service).

        Raises:
            ModelUnavailableError: the version looks features up, but no online store was given.
        """
        if sv.features is None:
            return payload, None
        if self.features is None:
            raise ModelUnavailableError(
                f"{sv.ref} looks features up online, but this runtime has no online store; serve it with "
                "`mlfactory serve` (which opens stores.online)"
            )
        return await asyncio.to_thread(self.features.complete, sv.name, sv.features, payload, n)

    async def checked(self, sv: ServedVersion, payload: Payload, on_invalid: OnInvalid) -> Batch:
        """All of a payload's rows completed and checked for one version (the shadow's path)."""
        completed, _ = await self.complete(sv, payload, payload_rows(payload))
        return sv.spec.check(completed, on_invalid=on_invalid)

    async def prepare(
        self, groups: list[Group], payload: Payload, n: int, on_invalid: OnInvalid = "reject"
    ) -> Prepared:
        """Each group's checked rows, and each row's feature status.

        Raises:
            PayloadTooLargeError: more than ``max_rows`` rows (before anything is looked up).
            ValidationError: rows break the inputs (or, under ``reject``, a declared rule).
        """
        primary = groups[0].served
        if n > self.max_rows:  # refuse before looking anything up
            primary.spec.check(payload, max_rows=self.max_rows)
        if all(g.served.same_inputs(primary) for g in groups):
            completed, found = await self.complete(primary, payload, n)
            full = primary.spec.check(completed, max_rows=self.max_rows, on_invalid=on_invalid)
            subs = [full if g.rows is None else full.take(g.rows) for g in groups]
            return Prepared(full, subs, None if found is None else list(found))
        subs = []
        statuses: list[str | None] | None = None
        for g in groups:
            part = payload if g.rows is None else take_payload(payload, g.rows)
            part, found = await self.complete(g.served, part, payload_rows(part))
            subs.append(g.served.spec.check(part, on_invalid=on_invalid))
            if found is not None:
                statuses = statuses or [None] * n
                for i, st in zip(g.positions(n), found, strict=True):
                    statuses[i] = st
        return Prepared(None, subs, statuses)
