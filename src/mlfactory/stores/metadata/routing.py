"""Routing: aliases pointing at model versions, each model's routing policy, and both read as one state.

A routing policy is kept as the JSON its owner wrote: :class:`mlfactory.serving.policy.RoutingPolicy` (a
floor above) is its typed form, and ``RoutingPolicy.from_dict`` reads what this store returns.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, NamedTuple

from mlfactory.entities import Event, GateResult, VersionStatus

VersionCheck = Callable[[VersionStatus, tuple[GateResult, ...]], dict[str, Any]]
"""A caller's rule on the version about to take an alias, given its status and gate results (all that is
loaded of it): it raises to refuse the move, or returns details to add to the move's event. It runs inside
the move's transaction, so what it judged is what the alias points at when the move commits."""


class RoutingState(NamedTuple):
    """Every alias and routing policy as of one moment, with each model's routing revision."""

    aliases: dict[tuple[str, str], int]  # (model, alias) -> version
    policies: dict[str, dict[str, Any]]  # model -> stored routing policy (RoutingPolicy.to_dict())
    revisions: dict[str, int]  # model -> id of its newest alias or routing event (absent: none yet)


class RoutingStore(ABC):
    """Aliases and routing policies; every change is an event written in the same atomic change."""

    @abstractmethod
    def get_aliases(self, name: str | None = None) -> dict[tuple[str, str], int]:
        """Where aliases point.

        Args:
            name: only this model's aliases (all models when None).

        Returns:
            (model, alias) -> version (empty for a model without aliases; not an error).

        Raises:
            StoreUnavailableError: the store cannot be reached.
        """

    @abstractmethod
    def move_alias(
        self,
        name: str,
        alias: str,
        version: int | None,
        *,
        kind: str,
        actor: str,
        reason: str,
        payload: dict[str, Any] | None = None,
        expect: int | bool | None = False,
        check: VersionCheck | None = None,
    ) -> Event:
        """Point an alias at a version, or remove it, and log the move as one event.

        Args:
            name: the model.
            alias: the alias (``production``, ``staging``, ...).
            version: the version to point at; None removes the alias.
            kind: the event's kind (``alias.set``, ``alias.removed``, ``alias.rollback``, ...).
            actor: who moved it.
            reason: why.
            payload: more event details, merged over ``{"alias", "from", "to"}``.
            expect: when not False, the version the alias must point at now (None: must be unset).
            check: judges the version (when ``version`` is given) before anything is written; what it
                raises refuses the move, what it returns is merged into the event's payload.

        Returns:
            The event, whose payload holds ``alias``, ``from`` (the previous version or None) and ``to``.

        Raises:
            ConflictError: ``expect`` is given and the alias points elsewhere (someone moved it meanwhile).
            NotFoundError: ``version`` is not a version of the model.
            StoreUnavailableError: the store cannot be reached.
            Exception: whatever ``check`` raises.

        Guarantees: the check, the move and its event are one atomic step (one transaction); of two
        concurrent movers expecting the same state only one succeeds; a failed move changes nothing.
        """

    @abstractmethod
    def get_routing_policies(self, name: str | None = None) -> dict[str, dict[str, Any]]:
        """Stored routing policies.

        Args:
            name: only this model's policy (all models when None).

        Returns:
            Model name -> its stored policy as written (``RoutingPolicy.from_dict`` reads it); models
            without a policy are absent.

        Raises:
            StoreUnavailableError: the store cannot be reached.
        """

    @abstractmethod
    def routing_state(self) -> RoutingState:
        """Every alias and routing policy, and per model the id of its newest ``alias.*`` or ``routing.*``
        event, read from one consistent snapshot.

        Returns:
            The state. A model with neither aliases nor a policy has no revision.

        Raises:
            StoreUnavailableError: the store cannot be reached.

        Guarantees: the revision names exactly the aliases and policy read with it, even while another
        writer changes routes, since every alias move and routing change writes its event atomically with it.
        """

    @abstractmethod
    def set_routing_policy(
        self,
        name: str,
        policy: dict[str, Any] | None,
        *,
        actor: str,
        reason: str = "",
    ) -> Event:
        """Store a model's routing policy, or remove it, and log the change as one event.

        Args:
            name: the model.
            policy: the policy's JSON (``RoutingPolicy.to_dict()``); None removes it.
            actor: who changed it.
            reason: why.

        Returns:
            The ``routing.set`` or ``routing.cleared`` event; its payload holds ``from`` and ``to`` policies.

        Raises:
            StoreUnavailableError: the store cannot be reached.

        Guarantees: the change and its event are atomic. The store does not check the versions the policy
        names (``mlfactory.serving.policy`` does before storing).
        """
