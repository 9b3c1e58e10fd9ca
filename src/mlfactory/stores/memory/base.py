"""The in-memory store's base: one lock, a clock, copies in and out, and the event log."""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from mlfactory.entities import (
    ApiToken,
    AuditRecord,
    DatasetVersion,
    Event,
    FeatureTable,
    FeatureViewRecord,
    FeedbackRecord,
    Metric,
    MonitorReportRecord,
    Rollout,
    Run,
    SkewReportRecord,
    TrainingSetRecord,
)
from mlfactory.errors import NotFoundError

T = TypeVar("T")


def json_set(document: Any, path: str) -> bool:
    """Whether a JSON document sets the dotted ``path``: present, and neither null nor an empty string, list
    or object (as the SQL store answers it)."""
    for key in path.split("."):
        if not isinstance(document, dict) or key not in document:
            return False
        document = document[key]
    return document is not None and document not in ("", [], {})


# event kinds that change what a model routes: routing_state's revision is the newest of them
ROUTING_KINDS = ("alias.", "routing.")


def now() -> datetime:
    return datetime.now(UTC)


def aware(ts: datetime | None) -> datetime | None:
    """A time to compare with stored ones (which are UTC-aware): a naive one is taken as UTC, as the SQL
    stores read theirs."""
    return ts if ts is None or ts.tzinfo else ts.replace(tzinfo=UTC)


def copied(value: T) -> T:
    """A deep copy: what goes in or comes out must not share mutable dicts with the stored state, just as a
    database hands out fresh objects on every read."""
    return copy.deepcopy(value)


@dataclass
class RunRow:
    """A stored run; its latest metrics and artifacts are filled in when it is read.

    ``latest`` is kept as values are logged (as the SQL stores keep ``latest_metrics``), so reading a run
    never walks its history."""

    run: Run
    metrics: list[Metric] = field(default_factory=list)  # in logging order
    latest: dict[str, Metric] = field(default_factory=dict)  # key -> its latest value (see log_metrics)
    artifacts: dict[str, str] = field(default_factory=dict)


class MemoryBase:
    """State shared by every family: one re-entrant lock guards all of it, so each public method is atomic
    (a change and its event are seen together or not at all) and the store is safe across threads."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._events: list[Event] = []
        self._routing_revisions: dict[str, int] = {}  # model -> id of its newest alias.*/routing.* event
        self._datasets: dict[str, DatasetVersion] = {}
        self._runs: dict[str, RunRow] = {}
        self._versions: dict[str, list[dict[str, Any]]] = {}  # name -> stored rows, oldest first
        self._aliases: dict[tuple[str, str], int] = {}  # (model, alias) -> version
        self._policies: dict[str, dict[str, Any]] = {}
        self._feedback: dict[str, FeedbackRecord] = {}  # request id -> its newest label
        self._rollouts: dict[str, Rollout] = {}
        self._tokens: dict[str, tuple[ApiToken, str]] = {}  # name -> (token, secret hash), oldest first
        self._views: dict[tuple[str, str], FeatureViewRecord] = {}
        self._tables: dict[tuple[str, str, str], FeatureTable] = {}
        self._training_sets: dict[str, TrainingSetRecord] = {}
        self._skew: list[SkewReportRecord] = []
        self._reports: dict[str, MonitorReportRecord] = {}
        self._audits: list[AuditRecord] = []  # oldest first

    def _has_version(self, name: str, version: int) -> bool:
        # the numbers the SQL stores can hold (32 bits): the same "not found" for the others
        return 0 < version < 2**31 and version <= len(self._versions.get(name, []))

    def _unknown_model(self, name: str) -> str:
        names = sorted(n for n, vs in self._versions.items() if vs)
        return (
            f"no model named '{name}' (registered: {', '.join(names) or 'none yet; run `mlfactory train`'})"
        )

    def _missing_version(self, name: str, version: int) -> NotFoundError:
        """The error for a version that is not stored: naming the model's versions, or the registered
        models when the name has none. Callers hold the lock."""
        versions = self._versions.get(name, [])
        if not versions:
            return NotFoundError(self._unknown_model(name))
        known = [v["version"] for v in versions]
        return NotFoundError(f"model '{name}' has no version {version} (versions: {known})")

    def close(self) -> None:
        """Nothing to release: the data lives as long as the object."""

    def _insert_event(
        self, kind: str, actor: str, model: str | None, payload: dict[str, Any], reason: str
    ) -> Event:
        # callers hold the lock
        event = Event(len(self._events) + 1, now(), kind, actor, model, copied(payload), reason)
        self._events.append(event)
        if model is not None and kind.startswith(ROUTING_KINDS):
            self._routing_revisions[model] = event.id
        return copied(event)

    def add_event(
        self,
        kind: str,
        *,
        actor: str,
        model: str | None = None,
        payload: dict[str, Any] | None = None,
        reason: str = "",
    ) -> Event:
        with self._lock:
            return self._insert_event(kind, actor, model, payload or {}, reason)

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
        since = aware(since)
        until = aware(until)
        with self._lock:
            newest = [
                e
                for e in reversed(self._events)
                if (model is None or e.model == model)
                and (since is None or e.time >= since)
                and (until is None or e.time < until)
                and (not kinds or e.kind in kinds)
                and (actor is None or e.actor == actor)
            ]
            page = newest[offset : offset + limit] if limit else newest[offset:]
            return copied(page if newest_first else page[::-1])

    def latest_events(self, models: Sequence[str], kinds: Sequence[str]) -> dict[str, Event]:
        wanted, out = set(models), {}  # type: set[str], dict[str, Event]
        with self._lock:
            for e in sorted(self._events, key=lambda e: (e.time, e.id)):
                if e.model in wanted and (not kinds or e.kind in kinds):
                    out[e.model] = e
            return copied(out)

    def kinds_seen(
        self,
        kinds: Sequence[str],
        *,
        actor_prefix: str | None = None,
        payload_set: Sequence[str] = (),
    ) -> set[str]:
        with self._lock:
            return {
                e.kind
                for e in self._events
                if e.kind in kinds
                and (actor_prefix is None or e.actor.startswith(actor_prefix))
                and (not payload_set or any(json_set(e.payload, p) for p in payload_set))
            }
