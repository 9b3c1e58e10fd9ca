"""A model card in Markdown, generated from what the registry knows about a version."""

from __future__ import annotations

from typing import Any


def _metric_rows(metrics: dict[str, Any]) -> list[str]:
    return [f"| {k} | {v:.4f} |" for k, v in metrics.items() if isinstance(v, int | float)]


def model_card(
    *,
    name: str,
    version: int | str,
    description: str,
    estimator: str,
    task: str,
    label: str,
    signature: dict[str, Any],
    metrics: dict[str, Any],
    gates: list[dict[str, Any]],
    lineage: dict[str, Any],
    slices: dict[str, Any],
) -> str:
    """Render the card: intended use, data and lineage, inputs, metrics, slices and gate results."""
    lines = [
        f"# Model card: {name} v{version}",
        "",
        description or "_No description in the project file._",
        "",
        "## Model",
        f"- Task: {task}, label `{label}`",
        f"- Estimator: `{estimator}`",
        f"- Training run: `{lineage.get('run')}`",
        "",
        "## Data and lineage",
        f"- Dataset version: `{lineage.get('dataset')}` (source `{lineage.get('source')}`, "
        f"content SHA-256 `{str(lineage.get('dataset_hash'))[:16]}…`)",
        f"- Training rows: {lineage.get('train_rows')}, holdout rows: {lineage.get('holdout_rows')} "
        f"({lineage.get('split')})",
        f"- Project file SHA-256: `{str(lineage.get('project_file_sha256'))[:16]}…`",
        "",
        "## Inputs",
        "| column | type |",
        "|---|---|",
        *[f"| {c['name']} | {c['type']} |" for c in signature.get("inputs", [])],
        "",
        "## Holdout metrics",
        "| metric | value |",
        "|---|---|",
        *_metric_rows(metrics),
        "",
        "## Quality gates",
    ]
    if gates:
        lines += ["| rule | result | detail |", "|---|---|---|"]
        lines += [f"| {g['rule']} | {'pass' if g['passed'] else 'FAIL'} | {g['detail']} |" for g in gates]
    else:
        lines.append("_No gates declared._")
    for col, per in slices.items():
        lines += ["", f"## Slices by `{col}`", "| value | rows | metrics |", "|---|---|---|"]
        for value, m in per.items():
            shown = ", ".join(f"{k} {v:.3f}" for k, v in m.items() if k != "rows" and isinstance(v, float))
            lines.append(f"| {value} | {m['rows']} | {shown} |")
    return "\n".join(lines) + "\n"
