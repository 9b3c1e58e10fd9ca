"""The controller's state per model: its rollout, moved by compare-and-set, a lease, and a pause switch."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from mlfactory.entities import Event, Rollout


class ControlStore(ABC):
    """Rollouts, leases and pauses. A model the controller never touched reads as ``idle`` at revision 0."""

    @abstractmethod
    def get_rollout(self, model: str) -> Rollout:
        """The model's rollout.

        Args:
            model: the model.

        Returns:
            The stored rollout, or an ``idle`` one at revision 0 (not paused, no lease) when none is stored.

        Raises:
            StoreUnavailableError: the store cannot be reached.
        """

    @abstractmethod
    def list_rollouts(self) -> list[Rollout]:
        """Every stored rollout.

        Returns:
            The rollouts of every model the controller touched, by model name.

        Raises:
            StoreUnavailableError: the store cannot be reached.
        """

    @abstractmethod
    def save_rollout(
        self,
        model: str,
        *,
        expect_revision: int,
        state: str,
        challenger: int | None,
        champion: int | None,
        data: dict[str, Any],
        event: str,
        actor: str,
        reason: str,
        payload: dict[str, Any] | None = None,
    ) -> Rollout:
        """Move a rollout to a new state and log the move as one event.

        Args:
            model: the model.
            expect_revision: the revision the caller read; the move happens only if it is still current.
            state: the new state.
            challenger: the version being rolled out, if any.
            champion: the version serving production, if any.
            data: the state's own data (free-form JSON).
            event: the event's kind.
            actor: who moved it (the controller's id).
            reason: why.
            payload: more event details, merged over ``from_state``, ``to_state``, ``challenger``,
                ``champion``.

        Returns:
            The stored rollout, at ``expect_revision + 1``; lease and pause are kept.

        Raises:
            ConflictError: the stored revision is not ``expect_revision`` (another controller acted first).
            StoreUnavailableError: the store cannot be reached.

        Guarantees: compare-and-set on the revision; the move and its event are atomic.
        """

    @abstractmethod
    def acquire_lease(self, model: str, owner: str, seconds: float, *, take_over: str | None = None) -> bool:
        """Take or renew the right to act on a model for ``seconds``.

        Args:
            model: the model.
            owner: who asks (a controller's id).
            seconds: how long the lease lasts from now.
            take_over: a holder known to be gone (its process ended): the lease is taken from it at once,
                in the same compare-and-set, and only if that holder still has it.

        Returns:
            True when ``owner`` holds the lease now (it was free, expired, its own, or taken over); False
            while another owner holds it.

        Raises:
            StoreUnavailableError: the store cannot be reached.

        Guarantees: atomic compare-and-set: of concurrent askers at most one gets a free lease. Writes no
        event (leases renew every tick).
        """

    @abstractmethod
    def release_lease(self, model: str, owner: str) -> None:
        """Give the lease back if ``owner`` holds it (otherwise nothing happens); the lease's end is set to
        now, so it records when a controller last acted.

        Args:
            model: the model.
            owner: who gives it back.

        Raises:
            StoreUnavailableError: the store cannot be reached.
        """

    @abstractmethod
    def set_paused(self, model: str, paused: bool, *, actor: str, reason: str = "") -> Event:
        """Pause or resume the controller for one model.

        Args:
            model: the model.
            paused: True pauses, False resumes.
            actor: who switched it.
            reason: why.

        Returns:
            The ``controller.paused`` or ``controller.resumed`` event.

        Raises:
            StoreUnavailableError: the store cannot be reached.

        Guarantees: the switch and its event are atomic; the rollout's state and revision are kept.
        """
