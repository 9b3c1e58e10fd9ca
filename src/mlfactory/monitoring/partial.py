"""A group's counts made slice by slice of the log's files and merged in the slices' order.

A window of one (version, route) group is cut into :class:`~mlfactory.stores.predictions.window.LogPart`
slices by its files alone (:meth:`~mlfactory.stores.predictions.LogWindow.parts`). Each slice is counted on
its own against the version's reference (:func:`count_part`: reference bins, category lists, text views'
vocabularies, the calibration, and the window's feedback labels, all plain data), and the slices' counts are
added up in the slices' order. Every statistic of the report is computed from these counts (binned
Anderson–Darling and Kolmogorov–Smirnov, offset sums for Wasserstein, moments), never from raw values, so
counting the slices one after another here or side by side on the project's executor gives the same report
to the last bit: the floating sums are made by the same additions in the same order either way.

What travels: each slice takes the reference and the group's feedback labels (one read of the store per
group) and gives back its counts, a few kilobytes per column whatever its rows. The labels are the cost: a
window with many labelled rows sends all of them with every slice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from threadpoolctl import threadpool_limits

from mlfactory import arrays
from mlfactory.monitoring.performance import PerformanceCounts, positions
from mlfactory.monitoring.reference import VersionReference
from mlfactory.monitoring.window_counts import WindowCounts
from mlfactory.stores.predictions.window import LogPart, read_part

if TYPE_CHECKING:
    import duckdb

    from mlfactory.compute import Executor

#: slices a group needs before they go to the executor; fewer are counted here, one after another. Measured
#: on two CPUs: a cold local pool lost at two slices of a million rows and won at three
MIN_PARALLEL_PARTS = 3


@dataclass(frozen=True)
class CountSpec:
    """What counting a slice needs besides its rows: plain data, sent with every slice.

    Attributes:
        reference: the version's reference (bins, categories, text vocabularies, calibration).
        classes: the model's classes (None for a regressor).
        labels: the window's feedback labels by request id (see ``window_labels`` in the service).
        threads: the OpenMP/BLAS threads counting may use (``monitoring.native_threads``; None: the
            libraries' defaults), applied where the slice is counted, since a worker process does not
            inherit the caller's limits.
    """

    reference: VersionReference
    classes: tuple[Any, ...] | None
    labels: dict[str, Any] = field(default_factory=dict)
    threads: int | None = 1


@dataclass(frozen=True)
class LabelLookup:
    """The window's feedback labels, prepared once per slice to be joined to its chunks by request id.

    Attributes:
        ids: the labelled request ids (an Arrow array each chunk's ids are looked up in, by hash).
        labels: their labels, in the same order (Python objects).
    """

    ids: pa.Array
    labels: np.ndarray

    @classmethod
    def of(cls, labels: Mapping[str, Any]) -> LabelLookup:
        """Prepare the labels of a :class:`CountSpec` (request id → label)."""
        return cls(arrays.texts(list(labels)), np.fromiter(labels.values(), object, len(labels)))

    def join(self, request_ids: pa.Array) -> np.ndarray | None:
        """Each row's label (None for a request without one), or None when no row has one."""
        at = positions(pc.index_in(request_ids, value_set=self.ids))
        hit = at >= 0
        if not hit.any():
            return None
        out = np.full(len(at), None, dtype=object)
        out[hit] = self.labels[at[hit]]
        return out


@dataclass
class GroupCounts:
    """What one (version, route) group's rows added up to, against the version's reference."""

    features: WindowCounts
    outputs: WindowCounts
    perf: PerformanceCounts
    present_outputs: set[str] = field(default_factory=set)

    @classmethod
    def empty(cls, spec: CountSpec) -> GroupCounts:
        """Counts of no rows yet."""
        ref = spec.reference
        return cls(
            WindowCounts(ref.columns, ref.text),
            WindowCounts(ref.outputs),
            PerformanceCounts(spec.classes, ref.calibration),
        )

    def add(self, rows: pa.RecordBatch, proba: np.ndarray | None, labels: LabelLookup | None) -> None:
        """Add a chunk of rows (with its probabilities), joined with the labels of its requests (None
        without any)."""
        self.features.update(rows)
        names = rows.schema.names
        outputs = {"prediction": rows["prediction"]} if "prediction" in names else {}
        if proba is not None:
            outputs["score"] = arrays.float_column(proba.max(axis=1))
        self.present_outputs.update(outputs)
        self.outputs.update(pa.RecordBatch.from_pydict(outputs) if outputs else rows.select([]))
        if "prediction" not in names:
            return
        label_values = None
        if labels is not None and "request_id" in names:
            label_values = labels.join(rows["request_id"])
        self.perf.add(rows["prediction"], proba, label_values)

    def merge(self, other: GroupCounts) -> None:
        """Add another slice's counts after this one's."""
        self.features.merge(other.features)
        self.outputs.merge(other.outputs)
        self.perf.merge(other.perf)
        self.present_outputs |= other.present_outputs


def count_part(item: tuple[CountSpec, LogPart]) -> GroupCounts:
    """One slice counted (a module-level function of plain arguments: it runs on any executor's worker)."""
    spec, part = item
    with threadpool_limits(limits=spec.threads):
        return _count(spec, part)


def _count(spec: CountSpec, part: LogPart, con: duckdb.DuckDBPyConnection | None = None) -> GroupCounts:
    """One slice counted, read through ``con`` (see :func:`read_part`)."""
    counts = GroupCounts.empty(spec)
    labels = LabelLookup.of(spec.labels) if spec.labels else None  # prepared once, looked up by chunk
    if labels is None:  # request ids only join labels: without any, the log's are not read
        part = replace(part, columns=tuple(c for c in part.columns if c != "request_id"))
    for rows, proba in read_part(part, con=con):
        counts.add(rows, proba, labels)
    return counts


def count_group(
    spec: CountSpec,
    parts: Sequence[LogPart],
    compute: Executor | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> GroupCounts:
    """The group's counts: its slices counted (on ``compute`` when given and there are at least
    :data:`MIN_PARALLEL_PARTS`, else here) and merged in the slices' order.

    Slices counted here are read through ``con``, the window's connection, under the caller's native-thread
    limits (:func:`~mlfactory.monitoring.service.run_monitor` holds ``spec.threads``); a worker applies
    ``spec.threads`` itself and opens its own connection."""
    items = [(spec, part) for part in parts]
    counted: Iterable[GroupCounts]
    if compute is not None and len(items) >= MIN_PARALLEL_PARTS:
        counted = compute.imap(count_part, items)
    else:
        counted = (_count(spec, part, con) for part in parts)
    total = GroupCounts.empty(spec)
    for counts in counted:
        total.merge(counts)
    return total
