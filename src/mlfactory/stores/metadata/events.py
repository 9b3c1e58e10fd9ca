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
