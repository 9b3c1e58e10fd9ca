"""A view split by entity: the parts read exactly the source's rows, a per-entity view gives the one-process
table, and views that read across entities (or change their keys) are refused a split."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import pytest

from mlfactory.compute import Executor
from mlfactory.config import FeatureSplitConfig
from mlfactory.errors import ComputeError, ValidationError
from mlfactory.features import FeatureView
from mlfactory.features.partitioned import (
    ComputedTable,
    ModuleRef,
    PartitionWork,
    SourceRef,
    compute_partition,
    compute_table,
    in_order,
    probe,
    read_rows,
)
from mlfactory.features.repo import import_definitions
from mlfactory.stores.artifacts import open_artifact_store

Setup = tuple[dict[str, FeatureView], Path, SourceRef, ModuleRef]
T = TypeVar("T")
R = TypeVar("R")

MODULE = """
import pandas as pd

from mlfactory.features import Entity, feature_view

user = Entity(name="user", join_keys=["user"])


@feature_view(entity=user, source="events", timestamp="ts", features={"n": "integer", "total": "number"},
              per_entity=True)
def running(events: pd.DataFrame) -> pd.DataFrame:
    e = events.sort_values(["user", "ts"])
    return e.assign(n=e.groupby("user").cumcount() + 1, total=e.groupby("user")["amount"].cumsum())


@feature_view(entity=user, source="events", timestamp="ts", features={"share": "number"}, per_entity=True)
def share(events: pd.DataFrame) -> pd.DataFrame:
    return events.assign(share=events["amount"] / events["amount"].sum())


@feature_view(entity=user, source="events", timestamp="ts", features={"until_end": "number"},
              per_entity=True)
def until_end(events: pd.DataFrame) -> pd.DataFrame:
    return events.assign(until_end=(events["ts"].max() - events["ts"]).dt.total_seconds())


@feature_view(entity=user, source="events", timestamp="ts", features={"n": "integer"}, per_entity=True)
def merged(events: pd.DataFrame) -> pd.DataFrame:
    return events.assign(user="everyone", n=range(len(events)))


@feature_view(entity=user, source="events", timestamp="ts", features={"n": "integer"})
def undeclared(events: pd.DataFrame) -> pd.DataFrame:
    return events.assign(n=1)
"""


class InProcess(Executor):
    """An executor that runs each item here, in order: the split's logic without worker processes."""

    def __init__(self, workers: int) -> None:
        self.url = "in-process"
        self._workers = workers

    @property
    def workers(self) -> int:
        return self._workers

    def imap(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[R]:
        return (fn(item) for item in items)

    def submit(self, fn: Callable[..., R], *args: object) -> Future[R]:
        raise NotImplementedError

    def joblib_backend(self) -> AbstractContextManager[None]:
        return nullcontext()

    def close(self) -> None:
        pass


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    """The module's views, a skewed source in small row groups (in the artifact store) and the module."""
    rng = np.random.default_rng(5)
    users = np.where(rng.random(3000) < 0.4, rng.integers(0, 3, 3000), rng.integers(3, 400, 3000))
    events = pd.DataFrame(
        {
            "user": [f"u{u}" for u in users],
            "ts": pd.Timestamp("2026-01-01", tz="UTC")
            + pd.to_timedelta(rng.permutation(3000) * 60, unit="s"),
            "amount": rng.integers(1, 100, 3000),
        }
    )
    file = tmp_path / "events.parquet"
    events.to_parquet(file, index=False, row_group_size=256)
    store = open_artifact_store("artifacts", tmp_path)
    source = SourceRef(store.put_file(file), "artifacts", tmp_path)
    module = tmp_path / "features.py"
    module.write_text(MODULE)
    return import_definitions(module).views, source.path(), source, ModuleRef.of(module)


def test_a_part_reads_its_rows_as_the_whole_file_has_them(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"k": list("abcdefghij") * 30, "v": np.arange(300.0), "t": pd.Timestamp("2026-01-01")}
    )
    file = tmp_path / "f.parquet"
    frame.to_parquet(file, index=False, row_group_size=7)
    rows = np.array([0, 6, 7, 8, 150, 299])
    pd.testing.assert_frame_equal(read_rows(file, rows), pd.read_parquet(file).iloc[rows])


def test_a_per_entity_view_split_gives_the_table_of_one_process(setup: Setup) -> None:
    views, path, source, module = setup
    here = compute_table(
        views["running"], path, (source, module), None, FeatureSplitConfig(min_rows=100, min_workers=2)
    )
    for workers in (2, 3, 7):
        split = compute_table(
            views["running"],
            path,
            (source, module),
            InProcess(workers),
            FeatureSplitConfig(min_rows=100, min_workers=2),
        )
        assert split.partitions == workers, split.note
        pd.testing.assert_frame_equal(split.frame, here.frame)
    assert here.partitions == 1 and "no executor" in here.note


@pytest.mark.parametrize(
    ("view", "expect"),
    [
        ("share", "reads across entities"),
        ("until_end", "reads across entities"),
        ("merged", "reads across entities"),
        ("undeclared", "does not declare per_entity"),
    ],
)
def test_a_view_that_is_not_per_entity_is_computed_in_one_process(
    setup: Setup,
    view: str,
    expect: str,
) -> None:
    views, path, source, module = setup
    got: ComputedTable = compute_table(
        views[view], path, (source, module), InProcess(3), FeatureSplitConfig(min_rows=100, min_workers=2)
    )
    assert got.partitions == 1 and expect in got.note
    here = compute_table(views[view], path, (source, module), None)
    pd.testing.assert_frame_equal(got.frame, here.frame)


def test_a_small_source_is_not_split(setup: Setup) -> None:
    views, path, source, module = setup
    got = compute_table(
        views["running"],
        path,
        (source, module),
        InProcess(3),
        FeatureSplitConfig(min_rows=3001, min_workers=2),
    )
    assert got.partitions == 1 and "3000 source rows, under the 3001" in got.note


def test_the_probe_passes_a_per_entity_view(setup: Setup) -> None:
    views, path, _, _ = setup
    assert probe(views["running"], path) is None


def test_a_part_that_returns_other_entities_is_an_error(setup: Setup) -> None:
    """Every part's rows become entity 'everyone', which hashes to one part: the other parts are refused."""
    views, _, source, module = setup
    refused = 0
    for index in range(3):
        work = PartitionWork(index, 3, source, module, "merged", views["merged"].code_version)
        try:
            compute_partition(work)
        except ValidationError as exc:
            assert "returned rows of other entities" in str(exc)
            refused += 1
    assert refused == 2


def test_a_worker_refuses_an_altered_or_changed_module(setup: Setup) -> None:
    views, _, source, module = setup
    altered = ModuleRef(module.text + "\n# changed\n", module.sha256)
    with pytest.raises(ComputeError, match="altered"):
        compute_partition(PartitionWork(0, 2, source, altered, "running", views["running"].code_version))
    with pytest.raises(ComputeError, match="changed meanwhile"):
        compute_partition(PartitionWork(0, 2, source, module, "running", "0" * 16))


def test_keys_of_mixed_types_are_put_in_one_order() -> None:
    frame = pd.DataFrame(
        {
            "k": pd.Series([2, "a", 1, "b"], dtype=object),
            "_event_ts": pd.Timestamp("2026-01-01", tz="UTC"),
            "_created_ts": pd.Timestamp("2026-01-01", tz="UTC"),
        }
    )
    first = in_order(frame, ["k"])
    assert first["k"].tolist() == [1, 2, "a", "b"]
    pd.testing.assert_frame_equal(in_order(frame.iloc[::-1], ["k"]), first)


def test_by_default_a_split_needs_four_workers(setup: Setup) -> None:
    views, path, source, module = setup
    got = compute_table(
        views["running"], path, (source, module), InProcess(3), FeatureSplitConfig(min_rows=100)
    )
    assert got.partitions == 1 and "has 3 worker(s), under 4" in got.note
    assert (
        compute_table(
            views["running"], path, (source, module), InProcess(4), FeatureSplitConfig(min_rows=100)
        ).partitions
        == 4
    )


class Failing(InProcess):
    """An executor whose task raised in a worker: its error arrives as a ComputeError caused by it."""

    def imap(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[R]:
        try:
            raise ValidationError("feature view 'running': its function raised KeyError")
        except ValidationError as exc:
            raise ComputeError("compute_partition failed on item 0 (0-based) of 2") from exc


def test_a_views_own_error_in_a_worker_is_raised_as_in_one_process(setup: Setup) -> None:
    views, path, source, module = setup
    with pytest.raises(ValidationError, match="its function raised KeyError"):
        compute_table(
            views["running"],
            path,
            (source, module),
            Failing(2),
            FeatureSplitConfig(min_rows=100, min_workers=2),
        )


class Dropping(InProcess):
    """An executor whose first worker found no rows in its partition (a worker that hashes otherwise)."""

    def imap(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[R]:
        return ((0, None) if i == 0 else fn(item) for i, item in enumerate(items))  # type: ignore[misc]


def test_partitions_that_miss_source_rows_are_an_error(setup: Setup) -> None:
    views, path, source, module = setup
    with pytest.raises(ComputeError, match=r"read \d+ of the source's 3000 rows"):
        compute_table(
            views["running"],
            path,
            (source, module),
            Dropping(2),
            FeatureSplitConfig(min_rows=100, min_workers=2),
        )
