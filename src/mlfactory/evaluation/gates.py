"""Quality gates: absolute bounds, and bounds relative to the production version on the same holdout."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlfactory.config import LOWER_IS_BETTER, GateConfig
from mlfactory.entities import GateResult


def evaluate_gates(
    gates: Sequence[GateConfig],
    metrics: dict[str, Any],
    champion: dict[str, Any] | None,
    champion_label: str | None = None,
) -> list[GateResult]:
    """One result per rule of each gate (a gate with ``min`` and ``max`` gives two).

    ``champion`` holds the production version's metrics on the same holdout (None when there is none: a
    relative gate then passes, saying so).
    """
    results: list[GateResult] = []
    for gate in gates:
        value = metrics.get(gate.metric)
        checks: list[tuple[str, bool, str]] = []
        if gate.min is not None:
            ok = value is not None and value >= gate.min
            checks.append((f"{gate.metric} >= {gate.min}", ok, f"{gate.metric} = {_fmt(value)}"))
        if gate.max is not None:
            ok = value is not None and value <= gate.max
            checks.append((f"{gate.metric} <= {gate.max}", ok, f"{gate.metric} = {_fmt(value)}"))
        if gate.max_drop is not None:
            rule = f"{gate.metric} no worse than production by more than {gate.max_drop}"
            base = None if champion is None else champion.get(gate.metric)
            if champion is None:
                checks.append((rule, True, "no production version to compare against"))
            elif value is None or base is None:
                checks.append((rule, False, f"{gate.metric} undefined for challenger or production"))
            else:
                delta = (base - value) if gate.metric in LOWER_IS_BETTER else (value - base)
                checks.append(
                    (
                        rule,
                        delta >= -gate.max_drop,
                        f"{gate.metric} = {_fmt(value)} vs {_fmt(base)} for {champion_label} "
                        f"(change {delta:+.4f})",
                    )
                )
        for rule, ok, detail in checks:
            results.append(
                GateResult(metric=gate.metric, rule=rule, value=value, passed=bool(ok), detail=detail)
            )
    return results


def _fmt(v: Any) -> str:
    return "undefined" if v is None else f"{v:.4f}"
