"""The in-memory metadata store as a fake: chosen by URL, shared by name, safe across threads.

Its behaviour as a store is pinned by the contract suites in tests/contract, which run it beside SQLite and
PostgreSQL; these tests cover what is particular to it.
"""

from __future__ import annotations

import threading

import pytest

from mlfactory.errors import ConfigError
from mlfactory.stores import MetadataStore, open_metadata_store
from mlfactory.stores.memory import MemoryMetadataStore
from mlfactory.stores.metadata import ControlStore, EventsStore, MonitoringStore, RoutingStore


def test_the_memory_scheme_opens_a_fresh_store_and_a_name_opens_the_same_one() -> None:
    a, b = open_metadata_store("memory://"), open_metadata_store("memory://")
    assert isinstance(a, MemoryMetadataStore) and isinstance(a, MetadataStore)
    a.add_event("custom", actor="t")
    assert b.list_events() == []
    named = open_metadata_store("memory://test-memory-shared")
    named.add_event("custom", actor="t")
    named.close()  # closing keeps the data: a project opened again sees it
    assert [e.kind for e in open_metadata_store("memory://test-memory-shared").list_events()] == ["custom"]


def test_an_unknown_scheme_names_every_valid_one() -> None:
    valid = r"use one of: sqlite, postgresql, postgresql\+psycopg, memory"
    with pytest.raises(ConfigError, match=rf"'mysql' is not supported; {valid}"):
        open_metadata_store("mysql://db/x")


def test_the_union_is_every_family() -> None:
    store = open_metadata_store("memory://")
    for family in (EventsStore, RoutingStore, ControlStore, MonitoringStore):
        assert isinstance(store, family)


def test_concurrent_writers_get_distinct_ordered_events_and_lose_nothing() -> None:
    store = open_metadata_store("memory://")
    run_id = store.create_run("r")
    start = threading.Barrier(8)

    def write(i: int) -> None:
        start.wait()
        for j in range(50):
            store.add_event("custom", actor=f"w{i}", payload={"j": j})
            store.add_feedback([(f"{i}-{j}", j)], actor=f"w{i}", model="m")

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    events = store.list_events()
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert len(store.list_events(kinds=["custom"])) == 400
    assert len(store.get_feedback()) == 400
    assert store.get_run(run_id).name == "r"
