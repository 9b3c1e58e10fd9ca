"""The append-only audit log: every decision the platform or a person takes is one event."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from mlfactory.entities import Event


class EventsStore(ABC):
    """The event log. Other families write their events through their own methods, in the same atomic
    change as what the event records; this interface adds free-standing events and reads the log."""

    @abstractmethod
    def add_event(
        self,
        kind: str,
        *,
        actor: str,
        model: str | None = None,
        payload: dict[str, Any] | None = None,
        reason: str = "",
    ) -> Event:
        """Append one event to the audit log.

        Args:
            kind: dotted event kind, e.g. ``serving.load_failed``.
            actor: who or what acted (a user, a token name, ``controller``).
            model: the model the event concerns, if any.
            payload: free-form JSON details (an empty dict when None).
            reason: why, in words, for the history.

        Returns:
            The stored event, with its id and time.

        Raises:
            StoreUnavailableError: the store cannot be reached.

        Guarantees: event ids grow strictly in the order events are written, across every family, so the
        id orders the log even where two events share a timestamp.
        """

    @abstractmethod
    def list_events(
        self,
        *,
        model: str | None = None,
        since: datetime | None = None,
        kinds: Sequence[str] | None = None,
        limit: int | None = None,
        actor: str | None = None,
        until: datetime | None = None,
        offset: int = 0,
        newest_first: bool = False,
    ) -> list[Event]:
        """Events in the order they happened (by id), or newest first: one page of them with ``offset`` and
        ``limit``, cut by the store.

        Args:
            model: only this model's events.
            since: only events at or after this time.
            kinds: only events of these kinds (all kinds when None or empty).
            limit: only the newest ``limit`` of the matching events (still oldest first, unless
                ``newest_first``).
            actor: only events by this actor.
            until: only events before this time.
            offset: skip this many of the newest matching events first (a page's start, in either order).
            newest_first: return the page newest first.

        Returns:
            The matching events, oldest first (newest first with ``newest_first``).

        Raises:
            StoreUnavailableError: the store cannot be reached.
        """

    @abstractmethod
    def kinds_seen(
        self,
        kinds: Sequence[str],
        *,
        actor_prefix: str | None = None,
        payload_set: Sequence[str] = (),
    ) -> set[str]:
        """Which of ``kinds`` the log holds at least one event of (what a summary such as the maturity level
        needs): an existence test per kind in the database, stopping at the first matching event and
        handing back no event. A kind never written is a scan of the event table inside the database.

        Args:
            kinds: the event kinds to look for.
            actor_prefix: only events by an actor whose name starts with this (``controller:``).
            payload_set: only events whose payload sets at least one of these dotted paths (``to.canary``):
                present, and neither null nor an empty string, list or object.

        Returns:
            The kinds found among ``kinds``.

        Raises:
            StoreUnavailableError: the store cannot be reached.
        """

    @abstractmethod
    def latest_events(self, models: Sequence[str], kinds: Sequence[str]) -> dict[str, Event]:
        """Each model's newest event of ``kinds`` (by time, then id), read through the log's (model, time)
        index: one indexed step per model, however long the log.

        Args:
            models: the models to look up.
            kinds: the event kinds that count (all kinds when empty).

        Returns:
            Model -> its newest such event; models without one are left out.

        Raises:
            StoreUnavailableError: the store cannot be reached.
        """
