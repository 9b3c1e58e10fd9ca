"""A current window reduced to the reference's bins, chunk by chunk, so memory does not grow with the window.

Feed it chunks of any size with :meth:`WindowCounts.update` (Arrow record batches or tables, as monitoring
reads the prediction log, or pandas frames, as plain drift checks hold their data); it keeps per numeric
column one count and one sum of offsets per reference bin plus moments (and, for a column the reference holds
as a few values, a count per value), and per categorical column one count per value seen (values the
reference lacks are kept under their own names, up to :data:`MAX_NEW_CATEGORIES`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from mlfactory.data.profile import Vocabulary, as_floats, category_counts, category_key, text_views
from mlfactory.monitoring.reference import ColumnReference, TextReference

MAX_NEW_CATEGORIES = 1000
MAX_NEW_VALUES = 1000  # values a few-valued numeric column may add before it is no longer treated as discrete
NEW_OTHER = "__new_other__"

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class NumericCounts:
    """One numeric column of the window in its reference bins (under, bins…, over).

    ``sums`` holds per bin ``Σ (x − left edge)`` (exact Wasserstein). When the reference lists its few
    ``values``, ``value_counts`` counts each of them and ``extra`` the values it lacks; past
    :data:`MAX_NEW_VALUES` of those the column is no longer discrete (``overflow``) and the bins decide.
    """

    edges: np.ndarray
    counts: np.ndarray
    sums: np.ndarray = field(default_factory=lambda: np.zeros(0))
    values: np.ndarray | None = None
    value_counts: np.ndarray | None = None
    extra: dict[float, int] = field(default_factory=dict)
    overflow: bool = False
    below: float = 0.0  # Σ (edges[0] − x) over values under the first edge
    above: float = 0.0  # Σ (x − edges[-1]) over values above the last edge
    n: int = 0
    nulls: int = 0
    infinite: int = 0
    total: float = 0.0
    squares: float = 0.0
    low: float = np.inf
    high: float = -np.inf
    seen: bool = False

    def add(self, raw: np.ndarray) -> None:
        self.seen = True
        finite = np.isfinite(raw)
        self.nulls += int(np.isnan(raw).sum())
        self.infinite += int(np.isinf(raw).sum())
        x = np.sort(raw[finite])  # sorting once and locating the few edges beats locating every value
        if not len(x):
            return
        e = self.edges
        starts = np.searchsorted(x, e, side="left")
        closed = np.searchsorted(x, e[-1], side="right")  # the last bin is closed, like numpy.histogram
        cuts = np.concatenate([[0], starts[:-1], [closed, len(x)]])
        self.counts += np.diff(cuts)
        if len(self.sums) != len(e) - 1:
            self.sums = np.zeros(len(e) - 1)
        inner = cuts[1:-1]  # bin j spans cuts[j + 1]..cuts[j + 2]
        sizes = np.diff(inner)
        # reduceat sums from each index to the next (the last, over values and a trailing zero, is dropped)
        # and gives a lone value for an empty bin, which the mask drops
        totals = np.add.reduceat(np.append(x, 0.0), inner)[: len(sizes)]
        self.sums += np.where(sizes > 0, totals - sizes * e[:-1], 0.0)
        if self.values is not None and not self.overflow:
            self._add_values(x)
        under, over = starts[0], closed
        self.below += float(e[0] * under - x[:under].sum())
        self.above += float(x[over:].sum() - e[-1] * (len(x) - over))
        self.n += len(x)
        self.total += float(x.sum())
        self.squares += float(np.einsum("i,i->", x, x))  # not BLAS: its threads spin on a busy machine
        self.low, self.high = min(self.low, float(x[0])), max(self.high, float(x[-1]))

    def _add_values(self, x: np.ndarray) -> None:
        assert self.values is not None and self.value_counts is not None
        change = np.flatnonzero(np.diff(x)) + 1
        first = np.concatenate([[0], change])
        uniq, cnt = x[first], np.diff(np.concatenate([first, [len(x)]]))
        at = np.minimum(np.searchsorted(self.values, uniq), len(self.values) - 1)
        known = self.values[at] == uniq
        np.add.at(self.value_counts, at[known], cnt[known])
        new = uniq[~known]
        if len(self.extra) + len(new) > MAX_NEW_VALUES:
            self.overflow, self.extra = True, {}
            return
        for v, c in zip(new.tolist(), cnt[~known].tolist(), strict=True):
            self.extra[v] = self.extra.get(v, 0) + int(c)

    def merge(self, other: NumericCounts) -> None:
        """Add another slice's counts of the same column (same reference) after this one's."""
        self.seen = self.seen or other.seen
        self.counts += other.counts
        if len(other.sums) == len(self.sums):
            self.sums += other.sums
        if self.value_counts is not None and other.value_counts is not None:
            self.value_counts += other.value_counts
        self._merge_extra(other)
        self.below += other.below
        self.above += other.above
        self.n += other.n
        self.nulls += other.nulls
        self.infinite += other.infinite
        self.total += other.total
        self.squares += other.squares
        self.low, self.high = min(self.low, other.low), max(self.high, other.high)

    def _merge_extra(self, other: NumericCounts) -> None:
        """The values the reference lacks, together; past :data:`MAX_NEW_VALUES` of them, overflowed."""
        if self.overflow or other.overflow:
            self.overflow, self.extra = True, {}
            return
        for v, c in other.extra.items():
            self.extra[v] = self.extra.get(v, 0) + c
        if len(self.extra) > MAX_NEW_VALUES:
            self.overflow, self.extra = True, {}

    @property
    def discrete(self) -> bool:
        """Whether the column is compared value by value (a few-valued reference, few new values)."""
        return self.values is not None and not self.overflow

    def summary(self) -> dict[str, Any]:
        mean = self.total / self.n if self.n else None
        var = (self.squares - self.n * mean**2) / (self.n - 1) if self.n > 1 and mean is not None else None
        return {
            "count": self.n,
            "nulls": self.nulls,
            "infinite": self.infinite,
            "mean": mean,
            "std": float(np.sqrt(max(var, 0.0))) if var is not None else None,
            "min": self.low if self.n else None,
            "max": self.high if self.n else None,
        }


@dataclass
class CategoricalCounts:
    """One categorical column of the window: counts per value (as text)."""

    known: set[str]
    counts: Counter[str] = field(default_factory=Counter)
    nulls: int = 0
    seen: bool = False
    new: int = 0

    def add(self, values: Any) -> None:
        """Add a chunk's values (an Arrow or pandas column, see
        :func:`~mlfactory.data.profile.category_counts`)."""
        self.seen = True
        keys, counts, nulls = category_counts(values)
        self.nulls += nulls
        for key, n in zip(keys, counts.tolist(), strict=True):  # one step per distinct value, not per row
            k = category_key(key)
            if k not in self.known and k not in self.counts:
                if self.new >= MAX_NEW_CATEGORIES:
                    k = NEW_OTHER
                else:
                    self.new += 1
            self.counts[k] += int(n)

    def merge(self, other: CategoricalCounts) -> None:
        """Add another slice's counts of the same column after this one's: its new values join in its
        order, under their names until :data:`MAX_NEW_CATEGORIES` new ones are named, then as
        :data:`NEW_OTHER`."""
        self.seen = self.seen or other.seen
        self.nulls += other.nulls
        for k, n in other.counts.items():
            if k not in self.known and k not in self.counts and k != NEW_OTHER:
                if self.new >= MAX_NEW_CATEGORIES:
                    k = NEW_OTHER
                else:
                    self.new += 1
            self.counts[k] += n

    def summary(self) -> dict[str, Any]:
        return {"count": int(sum(self.counts.values())), "nulls": self.nulls, "distinct": len(self.counts)}


class WindowCounts:
    """Counts of a current window against a reference (see :mod:`mlfactory.monitoring.reference`).

    Args:
        columns: the reference's column entries (name → numeric or categorical reference).
        text: the reference's text entries (source column → vocabulary), whose views feed
            ``<column>.chars``, ``.words`` and ``.oov_rate``.
    """

    def __init__(
        self, columns: Mapping[str, ColumnReference], text: Mapping[str, TextReference] | None = None
    ) -> None:
        self.numeric: dict[str, NumericCounts] = {}
        self.categorical: dict[str, CategoricalCounts] = {}
        self.text = dict(text or {})
        self.rows = 0
        for name, ref in columns.items():
            if ref.kind == "numeric":
                edges = np.asarray(ref.edges or [0.0, 0.0], dtype="float64")
                acc = NumericCounts(edges, np.zeros(len(edges) + 1, dtype=np.int64), np.zeros(len(edges) - 1))
                if ref.values:
                    acc.values = np.asarray(ref.values, dtype="float64")
                    acc.value_counts = np.zeros(len(acc.values), dtype=np.int64)
                self.numeric[name] = acc
            else:
                self.categorical[name] = CategoricalCounts(set(ref.frequencies))
        # prepared once: every chunk's documents are looked up in it
        self._vocab = {name: Vocabulary.of(spec.vocabulary) for name, spec in self.text.items()}

    def update(self, chunk: pa.RecordBatch | pa.Table | pd.DataFrame) -> None:
        """Add a chunk; columns are looked up by their reference names (text views by their source)."""
        self.rows += len(chunk)
        names = set(chunk.schema.names if isinstance(chunk, (pa.RecordBatch, pa.Table)) else chunk.columns)
        for source in self.text:
            if source in names:
                for view, values in text_views(chunk[source], self._vocab[source]).items():
                    if f"{source}.{view}" in self.numeric:
                        self.numeric[f"{source}.{view}"].add(values)
        for name, acc in self.numeric.items():
            if name in names:
                acc.add(as_floats(chunk[name]))
        for name, cat in self.categorical.items():
            if name in names:
                cat.add(chunk[name])

    def merge(self, other: WindowCounts) -> None:
        """Add another slice's counts (made against the same reference) after this one's."""
        self.rows += other.rows
        for name, acc in self.numeric.items():
            acc.merge(other.numeric[name])
        for name, cat in self.categorical.items():
            cat.merge(other.categorical[name])
