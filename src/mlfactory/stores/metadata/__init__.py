"""The metadata store: one interface per family, and :class:`MetadataStore`, their union.

Each family (datasets, runs, registry, routing, control, access, feedback, features, monitoring, audits,
events) is its own abstract class in its own module, so code that needs one area can say so in its signature
(a function reading monitoring reports takes a :class:`MonitoringStore`). Backends implement the union and are
chosen by URL scheme in :func:`open_metadata_store`. Every method is atomic: a process killed at any point
leaves either the whole change, with its event, or none of it.
"""

from __future__ import annotations

from abc import abstractmethod

from mlfactory.errors import ConfigError
from mlfactory.stores.metadata.access import AccessStore
from mlfactory.stores.metadata.audits import AuditsStore
from mlfactory.stores.metadata.control import ControlStore
from mlfactory.stores.metadata.datasets import DatasetsStore
from mlfactory.stores.metadata.events import EventsStore
from mlfactory.stores.metadata.features import FeaturesStore
from mlfactory.stores.metadata.feedback import FEEDBACK_SUMMARY_SECONDS, FeedbackStore
from mlfactory.stores.metadata.monitoring import MonitoringStore
from mlfactory.stores.metadata.registry import RegistryStore
from mlfactory.stores.metadata.routing import RoutingState, RoutingStore
from mlfactory.stores.metadata.runs import RunsStore

SQL_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg")
SCHEMES = (*SQL_SCHEMES, "memory")


class MetadataStore(
    EventsStore,
    DatasetsStore,
    RunsStore,
    RegistryStore,
    RoutingStore,
    ControlStore,
    AccessStore,
    FeedbackStore,
    FeaturesStore,
    MonitoringStore,
    AuditsStore,
):
    """Where mlfactory keeps everything except bytes: every family over one event log."""

    @abstractmethod
    def close(self) -> None:
        """Release connections; the store is not used afterwards. Closing twice does no harm."""


def open_metadata_store(url: str) -> MetadataStore:
    """Open (and migrate) the metadata store for a URL.

    Args:
        url: ``sqlite:///PATH``, ``postgresql+psycopg://…`` (or ``postgresql://…``), or ``memory://`` for
            an empty in-process store (``memory://NAME``: the same store for every open of NAME in this
            process), the fast fake for tests.

    Returns:
        The store, ready to use.

    Raises:
        ConfigError: the URL's scheme is none of the supported ones (the message lists them).
        StoreUnavailableError: the database cannot be reached.
    """
    scheme = url.split(":", 1)[0]
    if scheme == "memory":
        from mlfactory.stores.memory import open_memory_store

        return open_memory_store(url)
    if scheme in SQL_SCHEMES:
        from mlfactory.stores.sql.store import SqlMetadataStore

        return SqlMetadataStore(url)
    raise ConfigError(
        f"metadata store URL scheme '{scheme}' is not supported; use one of: {', '.join(SCHEMES)}"
    )


__all__ = [
    "FEEDBACK_SUMMARY_SECONDS",
    "AccessStore",
    "AuditsStore",
    "ControlStore",
    "DatasetsStore",
    "EventsStore",
    "FeaturesStore",
    "FeedbackStore",
    "MetadataStore",
    "MonitoringStore",
    "RegistryStore",
    "RoutingState",
    "RoutingStore",
    "RunsStore",
    "open_metadata_store",
]
