"""The metadata store in memory: every family, one lock, the same guarantees as the SQL stores.

It is the fast fake for unit tests of the controller, the routers and the commands, selected by the URL
``memory://``; the contract suite (``tests/contract``) runs it with SQLite and PostgreSQL so it cannot drift
from them. Nothing is persisted: the data lives as long as the process.
"""

from __future__ import annotations

import threading

from mlfactory.stores.memory.audits import MemoryAudits
from mlfactory.stores.memory.catalog import MemoryCatalog
from mlfactory.stores.memory.control import MemoryControl
from mlfactory.stores.memory.feedback import MemoryFeedback
from mlfactory.stores.memory.records import MemoryRecords
from mlfactory.stores.memory.routing import MemoryRouting
from mlfactory.stores.memory.runs import MemoryRuns
from mlfactory.stores.metadata import MetadataStore


class MemoryMetadataStore(
    MemoryCatalog,
    MemoryRuns,
    MemoryRouting,
    MemoryControl,
    MemoryFeedback,
    MemoryRecords,
    MemoryAudits,
    MetadataStore,
):
    """Metadata in this process's memory."""


_NAMED: dict[str, MemoryMetadataStore] = {}
_NAMED_LOCK = threading.Lock()


def open_memory_store(url: str = "memory://") -> MemoryMetadataStore:
    """The store for a ``memory://`` URL.

    Args:
        url: ``memory://`` for a new, empty store; ``memory://NAME`` for the one store of that name in this
            process (created empty on first open), so a project opened twice sees the same data.

    Returns:
        The store.
    """
    name = url.removeprefix("memory://")
    if not name:
        return MemoryMetadataStore()
    with _NAMED_LOCK:
        return _NAMED.setdefault(name, MemoryMetadataStore())


__all__ = ["MemoryMetadataStore", "open_memory_store"]
