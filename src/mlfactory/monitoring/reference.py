"""Reading the reference monitoring compares against, as stored with a model version.

The reference is built at training by :func:`mlfactory.data.profile.build_reference` (the one profile
builder, at :data:`~mlfactory.data.profile.MONITORING_RESOLUTION`) and stored as ``profile["monitoring"]``;
its layout is described there. Format 1 (before ``sums``, ``values`` and ``value_counts``) still reads: its
bins are interpolated and its few-valued columns binned, which the report says. Versions registered before
monitoring references existed get one derived from their data profile (:func:`reference_from_profile`,
format 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlfactory.data.profile import BINNED_TYPES, CATEGORICAL_TYPES, OTHER, TOKEN_PATTERN
from mlfactory.monitoring.calibration import Calibration


def _floats(values: Any) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


def _ints(values: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in values)


@dataclass(frozen=True)
class ColumnReference:
    """One column's entry in a version's reference, read back from the builder's stored layout
    (:func:`mlfactory.data.profile.numeric_reference`, :func:`~mlfactory.data.profile.categorical_reference`).

    Attributes:
        kind: ``numeric`` (binned) or ``categorical`` (counted).
        type: the column's declared type (None in entries that did not record it).
        count: values the reference holds (non-null; finite for a numeric column).
        nulls: null values (and infinities, for a numeric column).
        edges, counts: a numeric column's bin edges and rows per bin.
        sums: per bin, the sum of the values' offsets from its left edge; None in references stored before
            them (format 1 and 0), whose Wasserstein distance is interpolated.
        values, value_counts: a few-valued numeric column's values and their counts; None otherwise.
        mean, std, min, max: a numeric column's moments and range.
        frequencies: a categorical column's most frequent values (as category keys) and their counts.
        other: rows of the values beyond ``frequencies``.
        source, feature: for a text view (``body.chars``), its text column and view.
    """

    kind: str = "numeric"
    type: str | None = None
    count: int = 0
    nulls: int = 0
    edges: tuple[float, ...] = ()
    counts: tuple[int, ...] = ()
    sums: tuple[float, ...] | None = None
    values: tuple[float, ...] | None = None
    value_counts: tuple[int, ...] | None = None
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    frequencies: dict[str, int] = field(default_factory=dict)
    other: int = 0
    source: str | None = None
    feature: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ColumnReference:
        """An entry as stored (keys a format lacks keep their defaults)."""
        sums, values, value_counts = data.get("sums"), data.get("values"), data.get("value_counts")
        return cls(
            kind=str(data.get("kind", "numeric")),
            type=data.get("type"),
            count=int(data.get("count") or 0),
            nulls=int(data.get("nulls") or 0),
            edges=_floats(data.get("edges") or ()),
            counts=_ints(data.get("counts") or ()),
            sums=None if sums is None else _floats(sums),
            values=None if values is None else _floats(values),
            value_counts=None if value_counts is None else _ints(value_counts),
            mean=data.get("mean"),
            std=data.get("std"),
            min=data.get("min"),
            max=data.get("max"),
            frequencies={str(k): int(v) for k, v in (data.get("frequencies") or {}).items()},
            other=int(data.get("other") or 0),
            source=data.get("source"),
            feature=data.get("feature"),
        )


@dataclass(frozen=True)
class TextReference:
    """A text column's entry: the vocabulary its out-of-vocabulary view is measured against.

    ``oov_reference`` is False in a reference derived from a data profile, which has no
    out-of-vocabulary view to compare with.
    """

    vocabulary: tuple[str, ...] = ()
    token_pattern: str = TOKEN_PATTERN
    oov_reference: bool = True

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TextReference:
        """An entry as stored."""
        return cls(
            vocabulary=tuple(str(t) for t in data.get("vocabulary") or ()),
            token_pattern=str(data.get("token_pattern") or TOKEN_PATTERN),
            oov_reference=bool(data.get("oov_reference", True)),
        )


def column_references(entries: Mapping[str, Mapping[str, Any]]) -> dict[str, ColumnReference]:
    """Entries by column name, read back."""
    return {name: ColumnReference.from_json(entry) for name, entry in entries.items()}


@dataclass(frozen=True)
class VersionReference:
    """What a model version's monitoring compares against, read from its stored profile.

    The column entries keep the builder's stored layout (:mod:`mlfactory.data.profile`); this holds
    which entries there are.

    Attributes:
        format: the layout's format (:data:`~mlfactory.data.profile.REFERENCE_FORMAT`; 1 before offset
            sums and few-valued columns; 0 when derived from a data profile).
        n_rows: rows the reference was built from.
        columns: input column (or text view, e.g. ``body.chars``) to its entry.
        text: text column to its vocabulary and token pattern.
        outputs: ``prediction`` (and ``score``) to their entries.
        label: the label's entry, if known.
        calibration: the classifier's calibration (from
            :func:`~mlfactory.monitoring.calibration.build_calibration`).
    """

    format: int
    n_rows: int
    columns: dict[str, ColumnReference] = field(default_factory=dict)
    text: dict[str, TextReference] = field(default_factory=dict)
    outputs: dict[str, ColumnReference] = field(default_factory=dict)
    label: ColumnReference | None = None
    calibration: Calibration | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> VersionReference:
        """The reference as stored (``profile["monitoring"]``) or derived (:func:`reference_from_profile`)."""
        label, calibration = data.get("label"), data.get("calibration")
        return cls(
            format=int(data.get("format", 0)),
            n_rows=int(data.get("n_rows", 0)),
            columns=column_references(data.get("columns") or {}),
            text={name: TextReference.from_json(t) for name, t in (data.get("text") or {}).items()},
            outputs=column_references(data.get("outputs") or {}),
            label=ColumnReference.from_json(label) if label else None,
            calibration=Calibration.from_json(calibration) if calibration else None,
        )


def _from_profile_column(stats: dict[str, Any]) -> dict[str, Any] | None:
    kind = stats.get("type")
    if kind in BINNED_TYPES:
        bins = stats.get("bins") or {}
        return {
            "kind": "numeric",
            "type": kind,
            "edges": bins.get("edges", []),
            "counts": bins.get("counts", []),
            "count": stats.get("count", 0),
            "nulls": stats.get("nulls", 0),
            "mean": stats.get("mean"),
            "std": stats.get("std"),
            "min": stats.get("min"),
            "max": stats.get("max"),
        }
    if kind in CATEGORICAL_TYPES:
        freq = dict(stats.get("frequencies", {}))
        other = int(freq.pop(OTHER, 0))
        return {
            "kind": "categorical",
            "type": kind,
            "frequencies": freq,
            "other": other,
            "count": stats.get("count", 0),
            "nulls": stats.get("nulls", 0),
        }
    return None


def _from_quantiles(summary: dict[str, Any], levels: list[float], n: int) -> dict[str, Any] | None:
    """Bins whose edges are stored quantiles, each holding the share between its levels."""
    qs = summary.get("quantiles") or []
    if not n or any(q is None for q in qs):
        return None
    edges = np.asarray(qs, dtype="float64")
    mass = np.diff(np.asarray(levels, dtype="float64")) * n
    edges_u = np.unique(edges)
    if len(edges_u) == 1:
        edges_u, counts = np.array([edges_u[0], edges_u[0]]), np.array([float(n)])
    else:
        idx = np.minimum(np.searchsorted(edges_u, edges[:-1], side="right") - 1, len(edges_u) - 2)
        counts = np.bincount(idx, weights=mass, minlength=len(edges_u) - 1)
    return {
        "kind": "numeric",
        "type": "number",
        "edges": edges_u.tolist(),
        "counts": np.round(counts).astype(int).tolist(),
        "count": n,
        "nulls": 0,
        "mean": summary.get("mean"),
        "std": summary.get("std"),
    }


def reference_from_profile(profile: dict[str, Any]) -> dict[str, Any]:
    """A reference from a version's data profile alone (versions trained before monitoring existed).

    Numeric columns get the profile's 10 bins; text columns get character and word lengths binned at the
    stored quantiles, and no out-of-vocabulary view (the profile keeps document frequencies of the top
    tokens, not the reference's out-of-vocabulary share), which the report says.
    """
    columns: dict[str, Any] = {}
    text: dict[str, Any] = {}
    for name, stats in profile.get("columns", {}).items():
        if stats.get("type") == "text":
            levels = stats.get("quantile_levels", [])
            text[name] = {
                "vocabulary": sorted(stats.get("vocabulary", {})),
                "token_pattern": TOKEN_PATTERN,
                "oov_reference": False,
            }
            for view in ("chars", "words"):
                ref = _from_quantiles(stats.get(view, {}), levels, stats.get("documents", 0))
                if ref is not None:
                    columns[f"{name}.{view}"] = {**ref, "source": name, "feature": view}
            continue
        ref = _from_profile_column(stats)
        if ref is not None:
            columns[name] = ref
    outputs = {
        k: r
        for k, s in profile.get("outputs", {}).get("columns", {}).items()
        if (r := _from_profile_column(s)) is not None
    }
    return {
        "format": 0,
        "n_rows": profile.get("n_rows", 0),
        "columns": columns,
        "text": text,
        "outputs": outputs,
        "label": None,
        "calibration": None,
    }


def version_reference(profile: dict[str, Any], label: str | None = None) -> VersionReference:
    """The reference stored with a model version (``profile["monitoring"]``), or one derived from its data
    profile for versions that predate it (format 0)."""
    stored = profile.get("monitoring")
    if stored:
        return VersionReference.from_json(stored)
    ref = reference_from_profile(profile)
    if label is not None and label in ref["columns"]:
        ref["label"] = ref["columns"].pop(label)
    return VersionReference.from_json(ref)
