"""A model card in Markdown, generated from what the registry knows about a version."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mlfactory.entities import GateResult, Lineage, Signature
from mlfactory.evaluation.metrics import SliceMetrics


def _row_sources(counts: Mapping[str, int]) -> list[str]:
    """Where the rows came from: the dataset and labelled production traffic, and what was left out."""
    if not counts:
        return []
    left_out = {
        "dataset rows with a repeated key": counts.get("dataset_duplicate_keys", 0),
        "requests labelled twice": counts.get("duplicate_request_ids", 0),
        "labels that did not fit the model": counts.get("unfit_labels", 0),
        "labelled requests already in the dataset": counts.get("feedback_in_dataset", 0),
        "labelled requests repeating an earlier one": counts.get("feedback_repeated", 0),
    }
    shown = "; ".join(f"{n:,} {what}" for what, n in left_out.items() if n)
    return [
        f"- Rows taken: {counts.get('dataset_rows', 0):,} from the dataset version and "
        f"{counts.get('feedback_rows', 0):,} labelled production requests"
        + (f" (left out: {shown})" if shown else ""),
    ]


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
    signature: Signature,
    metrics: dict[str, Any],
    gates: Sequence[GateResult],
    lineage: Lineage,
    slices: SliceMetrics,
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
        f"- Training run: `{lineage.run}`",
        "",
        "## Data and lineage",
        f"- Dataset version: `{lineage.dataset}` (source `{lineage.source}`, "
        f"content SHA-256 `{str(lineage.dataset_hash)[:16]}…`)",
        f"- Training rows: {lineage.train_rows}, holdout rows: {lineage.holdout_rows} ({lineage.split})",
        *_row_sources(lineage.rows),
        f"- Project file SHA-256: `{str(lineage.project_file_sha256)[:16]}…`",
        "",
        "## Inputs",
        "| column | type |",
        "|---|---|",
        *[f"| {c.name} | {c.type} |" for c in signature.inputs],
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
        lines += [f"| {g.rule} | {'pass' if g.passed else 'FAIL'} | {g.detail} |" for g in gates]
    else:
        lines.append("_No gates declared._")
    for col, per in slices.items():
        lines += ["", f"## Slices by `{col}`", "| value | rows | metrics |", "|---|---|---|"]
        for value, m in per.items():
            shown = ", ".join(f"{k} {v:.3f}" for k, v in m.items() if k != "rows" and isinstance(v, float))
            lines.append(f"| {value} | {m['rows']} | {shown} |")
    return "\n".join(lines) + "\n"
