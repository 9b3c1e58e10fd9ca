"""Column drift: pick a method per column, compute every statistic for all columns at once, decide.

One rule at every window size (overridable per column under ``monitoring.columns``): a column drifts when
its test rejects at ``alpha`` (5 %) **and** its effect size reaches the minimum. The same data is judged the
same way at 200 rows and at 50,000, so false alarms stay at most ``alpha`` at every size and, for a fixed
shift bigger than the minimum effect, detection only grows with the window.

=================================== ====================================== =============================
column                              test                                   effect (minimum)
=================================== ====================================== =============================
numeric, > 20 distinct values       Anderson–Darling (k-sample, tied data) Wasserstein / reference std
                                    on the reference's bins                (``min_effect_numeric`` 0.1)
numeric, ≤ 20 distinct values       chi-square on the values               Wasserstein / reference std
categorical                         chi-square; two-proportion Z when      Jensen–Shannon distance, nats
                                    both sides hold the same two values    (``min_effect_categorical``
                                                                           0.04)
=================================== ====================================== =============================

Chi-square cells with fewer than ``min_expected`` (5) expected rows on a side are merged first, so rare
categories and values one side never drew neither inflate false alarms nor alarm by themselves; a new
category alarms once its share moves the Jensen–Shannon distance past the minimum (about 0.5 % of rows).
Anderson–Darling p-values come from its asymptotic distribution, or, when one bin holds more than 3 % of
the rows (a point mass such as a column of mostly zeros), from 499 Monte Carlo splits of the pooled counts.
Wasserstein is computed from per-bin offset sums (exact unless the distribution functions cross inside a
bin; within 2 % of the unbinned value). PSI (≥ 0.2), Jensen–Shannon (≥ 0.1, natural log, as Evidently),
Wasserstein (≥ 0.1) and Kolmogorov–Smirnov remain available as overrides; PSI and Jensen–Shannon on
numbers are computed on reference deciles. ``monitoring.small_sample`` no longer changes anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from mlfactory.config import ColumnDriftConfig, MonitoringConfig
from mlfactory.data.profile import DISCRETE_VALUES, OTHER
from mlfactory.monitoring import stats
from mlfactory.monitoring.numeric import PLOT_CATEGORIES, numeric_statistics, pad
from mlfactory.monitoring.reference import ColumnReference
from mlfactory.monitoring.window_counts import MAX_NEW_VALUES, CategoricalCounts, NumericCounts, WindowCounts

TESTS = ("anderson", "ks", "chisquare", "z")
NUMERIC_METHODS = ("anderson", "ks", "wasserstein", "psi", "jensenshannon", "chisquare")
CATEGORICAL_METHODS = ("chisquare", "z", "jensenshannon", "psi")


@dataclass
class ColumnDrift:
    """The drift check of one column: what was compared, the numbers, and the decision."""

    column: str
    kind: str
    role: str = "feature"
    method: str | None = None
    statistic: float | None = None
    p_value: float | None = None
    effect_size: float | None = None
    effect: str | None = None
    threshold: float | None = None
    min_effect: float | None = None
    drifted: bool | None = None
    status: str = "ok"
    messages: list[str] = field(default_factory=list)
    n_reference: int = 0
    n_current: int = 0
    current: dict[str, Any] = field(default_factory=dict)
    plot: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The check as stored in a report (``columns``, ``outputs``, ``label``) and shown by the CLI."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ColumnDrift:
        """A check read back from a stored report (keys this version does not know are ignored)."""
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class DatasetDrift:
    """Whether the window's inputs drifted as a whole: the share of decided feature checks that drifted,
    against ``monitoring.drift_share``.

    Attributes:
        share: drifted share of the decided feature checks; None when none was decided.
        threshold: the share at which the dataset counts as drifted.
        drifted: ``share >= threshold``; None when undecided.
        columns: the drifted feature columns.
        checked: feature checks decided.
        unchecked: feature columns without a decision (missing, too few rows, ...).
    """

    share: float | None
    threshold: float
    drifted: bool | None
    columns: tuple[str, ...] = ()
    checked: int = 0
    unchecked: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The ``drift`` section of a stored report."""
        return {
            "share": self.share,
            "threshold": self.threshold,
            "drifted": self.drifted,
            "columns": list(self.columns),
            "checked": self.checked,
            "unchecked": list(self.unchecked),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DatasetDrift | None:
        """The section read back; None for a report without one (an empty window's report stores ``{}``)."""
        if "threshold" not in data:
            return None
        return cls(
            share=data.get("share"),
            threshold=float(data["threshold"]),
            drifted=data.get("drifted"),
            columns=tuple(data.get("columns") or ()),
            checked=int(data.get("checked") or 0),
            unchecked=tuple(data.get("unchecked") or ()),
        )


def _f(x: Any) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def choose_method(
    kind: str, discrete: bool, binary: bool, override: ColumnDriftConfig | None, settings: MonitoringConfig
) -> str:
    """The method a column is checked with: its override, else the default by kind.

    The default does not depend on the window's size: the same data is judged by the same rule at 200 rows
    and at 50,000 (``settings`` is accepted for overrides of the defaults in future settings).
    """
    if override is not None and override.method != "auto":
        return override.method
    if kind == "numeric":
        return "chisquare" if discrete else "anderson"
    return "z" if binary else "chisquare"


def _threshold(method: str, override: ColumnDriftConfig | None, settings: MonitoringConfig) -> float:
    if override is not None and override.threshold is not None:
        return override.threshold
    return {
        "wasserstein": settings.wasserstein_threshold,
        "jensenshannon": settings.jensenshannon_threshold,
        "psi": settings.psi_threshold,
    }.get(method, settings.alpha)


def _scale(ref: ColumnReference) -> tuple[float, str | None]:
    if ref.feature == "oov_rate":  # a share in [0, 1]: its shift is already on a common scale
        return 1.0, None
    std = ref.std
    if std:
        return float(std), None
    mean = abs(ref.mean or 0.0)
    return max(mean, 1.0), (
        f"constant in the reference (value {ref.mean}): Wasserstein is normed by "
        f"max(|mean|, 1) = {max(mean, 1.0):g} instead of the standard deviation"
    )


def numeric_drift(
    names: list[str], refs: list[ColumnReference], curs: list[NumericCounts], settings: MonitoringConfig
) -> list[ColumnDrift]:
    """Check numeric columns, all statistics computed in vectorized passes (binned and few-valued)."""
    if not names:
        return []
    few = [i for i, c in enumerate(curs) if c.discrete and refs[i].value_counts]
    computed = numeric_statistics(refs, curs, few, settings.min_expected)
    out = []
    for i, name in enumerate(names):
        by_method, w, plot, notes = computed[i]
        scale, note = _scale(refs[i])
        effect = _f(w / scale) if w is not None else None
        by_method["wasserstein"] = (effect, None)
        res = ColumnDrift(
            column=name,
            kind="numeric",
            effect_size=effect,
            effect="wasserstein_normed",
            n_reference=int(sum(refs[i].counts)),
            n_current=curs[i].n,
            current=curs[i].summary(),
            plot=plot,
        )
        if note:
            res.messages.append(note)
        method = choose_method("numeric", i in few, False, settings.columns.get(name), settings)
        if method == "anderson":
            res.messages.extend(notes)
        if i in few:
            res.current["discrete"] = True
        elif refs[i].values:
            res.messages.append(
                f"the window holds more than {MAX_NEW_VALUES} values the reference never had, so the column "
                "is compared in the reference's bins rather than value by value"
            )
        elif refs[i].sums is None and len(refs[i].edges) <= DISCRETE_VALUES + 1:
            res.messages.append(
                "the reference was stored before few-valued columns were kept value by value, so values "
                "sharing a bin cannot be told apart; retrain to test it as discrete"
            )
        out.append(_finish(res, by_method, settings))
    return out


def _categorical_vectors(
    ref: ColumnReference, cur: CategoricalCounts
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Aligned counts over the reference's values, its ``other`` bucket and the window's new values.

    When the reference lumped rare values into ``other``, a value it does not name may be one of them, so
    such values count as ``other`` rather than as new.
    """
    freq = ref.frequencies
    keys = list(freq)
    ref_counts = [float(v) for v in freq.values()]
    cur_counts = [float(cur.counts.get(k, 0)) for k in keys]
    unknown = {k: n for k, n in cur.counts.items() if k not in freq}
    if ref.other > 0:
        keys.append(OTHER)
        ref_counts.append(float(ref.other))
        cur_counts.append(float(sum(unknown.values())))
    else:
        for k, n in sorted(unknown.items(), key=lambda kv: -kv[1]):
            keys.append(k)
            ref_counts.append(0.0)
            cur_counts.append(float(n))
    return keys, np.asarray(ref_counts), np.asarray(cur_counts)


def categorical_drift(
    names: list[str], refs: list[ColumnReference], curs: list[CategoricalCounts], settings: MonitoringConfig
) -> list[ColumnDrift]:
    """Check categorical columns, all statistics computed in one vectorized pass."""
    if not names:
        return []
    aligned = [_categorical_vectors(r, c) for r, c in zip(refs, curs, strict=True)]
    width = max(len(k) for k, _, _ in aligned)
    ref = pad([a[1] for a in aligned], width)
    cur = pad([a[2] for a in aligned], width)
    chi, p_chi, _ = stats.chi2_homogeneity(ref, cur, settings.min_expected)
    z, p_z = stats.two_proportion_z(
        ref[:, 0], ref.sum(axis=1), cur[:, 0], cur.sum(axis=1), settings.min_expected
    )
    js = stats.jensen_shannon(ref, cur)
    psi = stats.psi(ref, cur)
    out = []
    for i, name in enumerate(names):
        keys, r, c = aligned[i]
        res = ColumnDrift(
            column=name,
            kind="categorical",
            effect_size=_f(js[i]),
            effect="jensen_shannon",
            n_reference=int(r.sum()),
            n_current=int(c.sum()),
            current=curs[i].summary(),
        )
        known = set(refs[i].frequencies)
        new = {k: int(n) for k, n in zip(keys, c, strict=True) if k not in known and k != OTHER and n > 0}
        if new and c.sum():
            res.current["new_share"] = sum(new.values()) / float(c.sum())
            res.current["new_values"] = sorted(new, key=lambda k: -new[k])[:5]
        if len(known) == 1:
            res.messages.append(
                f"the reference holds a single category ({next(iter(known))!r}); "
                "any other value in the window counts against it"
            )
        binary = len(keys) == 2 and len(known) == 2
        by_method = {
            "chisquare": (chi[i], p_chi[i]),
            "z": (z[i], p_z[i]) if binary else (None, None),
            "jensenshannon": (js[i], None),
            "psi": (psi[i], None),
        }
        top = np.argsort(-(r / max(r.sum(), 1) + c / max(c.sum(), 1)), kind="stable")[:PLOT_CATEGORIES]
        res.plot = {
            "labels": [keys[j] for j in top],
            "reference": (r[top] / max(r.sum(), 1)).tolist(),
            "current": (c[top] / max(c.sum(), 1)).tolist(),
        }
        if binary:
            res.current["binary"] = True
        out.append((res, by_method))
    return [_finish(res, by_method, settings) for res, by_method in out]


def _finish(
    res: ColumnDrift, by_method: dict[str, tuple[Any, Any]], settings: MonitoringConfig
) -> ColumnDrift:
    override = settings.columns.get(res.column)
    binary = bool(res.current.pop("binary", False))
    discrete = bool(res.current.pop("discrete", False))
    method = choose_method(res.kind, discrete, binary, override, settings)
    allowed = NUMERIC_METHODS if res.kind == "numeric" else CATEGORICAL_METHODS
    res.method = method
    if method not in allowed or (method == "z" and not binary):
        why = (
            "applies only to a column whose reference and window hold the same two values"
            if method == "z"
            else f"does not apply to {res.kind} columns"
        )
        res.status = "error"
        res.messages.append(
            f"method '{method}' {why}; set monitoring.columns.{res.column}.method to one of "
            f"{', '.join(m for m in allowed if m != 'z' or binary)} or 'auto'"
        )
        return res
    stat, p = by_method[method]
    res.statistic, res.p_value = _f(stat), _f(p)
    res.threshold = _threshold(method, override, settings)
    if method in TESTS:
        if res.p_value is None:
            one_value = by_method["chisquare"][1] is None or not np.isfinite(by_method["chisquare"][1])
            res.statistic, res.p_value = 0.0, 1.0
            res.messages.append(
                "only one value occurs in the reference and the window; nothing to compare"
                if one_value and _single_value(res)
                else f"too few rows of the rarer values to test (an expected count under "
                f"{settings.min_expected:g} per side, monitoring.min_expected); no drift is decided on them"
            )
        min_effect = (
            override.min_effect
            if override and override.min_effect is not None
            else (settings.min_effect_numeric if res.kind == "numeric" else settings.min_effect_categorical)
        )
        res.min_effect = min_effect
        res.drifted = bool(
            res.p_value is not None and res.p_value < res.threshold and (res.effect_size or 0.0) >= min_effect
        )
        if res.p_value is not None and res.p_value < res.threshold and not res.drifted:
            res.messages.append(
                f"significant (p={res.p_value:.3g}) but the effect size "
                f"{res.effect_size or 0:.3g} is below the minimum {min_effect:g}"
            )
    else:
        res.drifted = bool(res.statistic is not None and res.statistic >= res.threshold)
    return res


def _single_value(res: ColumnDrift) -> bool:
    """Whether the check compared a single value on both sides (from its plot's shares)."""
    shares = np.asarray(res.plot.get("reference", []), dtype="float64") + np.asarray(
        res.plot.get("current", []), dtype="float64"
    )
    return int((shares > 0).sum()) <= 1


def _unavailable(name: str, kind: str, role: str, status: str, message: str, n_ref: int = 0) -> ColumnDrift:
    return ColumnDrift(
        column=name, kind=kind, role=role, status=status, messages=[message], n_reference=n_ref
    )


def _unchecked(
    name: str,
    ref: ColumnReference,
    acc: NumericCounts | CategoricalCounts | None,
    settings: MonitoringConfig,
    role: str,
    present: set[str] | None,
) -> ColumnDrift | None:
    """The result of a column that cannot be checked (with its status and why), or None when it can."""
    kind = ref.kind
    override = settings.columns.get(name)
    source = ref.source or name
    n_ref = ref.count
    if override is not None and not override.enabled:
        return _unavailable(name, kind, role, "skipped", "disabled in monitoring.columns")
    if (present is not None and source not in present) or acc is None or not acc.seen:
        why = f"column '{source}' is not in the window's data, so it cannot be checked"
        return _unavailable(name, kind, role, "missing", why, n_ref)
    if n_ref == 0 or (kind == "numeric" and len(ref.edges) < 2):
        why = "the reference has no values for this column (all null in training)"
        return _unavailable(name, kind, role, "no_reference", why)
    if isinstance(acc, NumericCounts):
        values, infinite = acc.n, acc.infinite
    else:
        values, infinite = sum(acc.counts.values()), 0
    if values == 0:
        nulls = acc.nulls + infinite
        what = f"all {nulls} values in the window are null" if nulls else "the window holds no values"
        if infinite:
            what += f" or infinite ({infinite} infinite)"
        return _unavailable(name, kind, role, "no_data", what + ", so it cannot be checked", n_ref)
    return None


def column_drift(
    reference: Mapping[str, ColumnReference],
    counts: WindowCounts,
    settings: MonitoringConfig,
    *,
    role: str = "feature",
    present: set[str] | None = None,
) -> list[ColumnDrift]:
    """Check every reference column against the window's counts.

    Columns that cannot be checked get a result with a status and a message instead of numbers:
    ``missing`` (not in the window's data), ``no_data`` (only nulls in the window), ``no_reference`` (the
    reference has no values), ``skipped`` (disabled in the project file), ``error`` (a method that does not
    fit the column).

    Args:
        reference: column name → its reference entry.
        counts: the window, counted.
        settings: the project's monitoring section.
        role: ``feature``, ``output`` or ``label``, copied to each result.
        present: columns the window's data holds (text views by their source); all when None.
    """
    results: list[ColumnDrift] = []
    groups: dict[str, tuple[list[str], list[ColumnReference], list[Any]]] = {
        "numeric": ([], [], []),
        "categorical": ([], [], []),
    }
    for name, ref in reference.items():
        kind = ref.kind
        acc = counts.numeric.get(name) if kind == "numeric" else counts.categorical.get(name)
        unchecked = _unchecked(name, ref, acc, settings, role, present)
        if unchecked is not None:
            results.append(unchecked)
            continue
        names, refs, accs = groups[kind]
        names.append(name)
        refs.append(ref)
        accs.append(acc)
    checked = numeric_drift(*groups["numeric"], settings) + categorical_drift(
        *groups["categorical"], settings
    )
    for res in checked:
        res.role = role
        acc = counts.numeric.get(res.column) or counts.categorical.get(res.column)
        nulls = acc.nulls if acc is not None else 0
        if nulls and res.n_current:
            res.messages.append(f"{nulls} null value(s) in the window were left out")
    order = {name: i for i, name in enumerate(reference)}
    return sorted([*results, *checked], key=lambda r: order.get(r.column, len(order)))


def dataset_drift(results: list[ColumnDrift], share: float) -> DatasetDrift:
    """Whether the share of drifted feature checks reaches ``share`` (None when no check was decided)."""
    decided = [r for r in results if r.role == "feature" and r.drifted is not None]
    drifted = [r.column for r in decided if r.drifted]
    value = len(drifted) / len(decided) if decided else None
    return DatasetDrift(
        share=value,
        threshold=share,
        drifted=None if value is None else value >= share,
        columns=tuple(drifted),
        checked=len(decided),
        unchecked=tuple(r.column for r in results if r.role == "feature" and r.drifted is None),
    )


def window_messages(rows: int, settings: MonitoringConfig, results: list[ColumnDrift]) -> list[str]:
    """Undecide every check of a window that is empty or smaller than ``min_rows``, and say why."""
    if rows >= settings.min_rows:
        return []
    for r in results:
        if r.status == "ok":
            r.status, r.drifted = "insufficient", None
    if rows == 0:
        return ["the window is empty: no rows to compare"]
    return [
        f"the window holds {rows} rows, fewer than the minimum of {settings.min_rows} "
        "(monitoring.min_rows); statistics are shown but no drift is decided"
    ]
