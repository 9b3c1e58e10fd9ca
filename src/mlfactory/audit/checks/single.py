"""infra.single_example: one prediction replayed step by step through the judged version's pipeline.

The example is the newest prediction the version logged (or, when the log holds none, the first row of its
holdout, compared with the version's own answer). Its inputs go through the same input check the server
runs, then through each step of the pipeline by hand: the trace records the input vector, each step's (and
each column transformer's part's) output shape and non-zero count, and the final answer and probabilities.
The replayed answer must equal the logged one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline

from mlfactory.audit.checks.base import Target, rebuild
from mlfactory.audit.model import Finding, Severity
from mlfactory.audit.recorded import CheckOutcome
from mlfactory.stores.predictions import INPUT_PREFIX

if TYPE_CHECKING:
    from mlfactory.project import Project
    from mlfactory.registry.loaded import LoadedModel

CHECK = "infra.single_example"
ATOL = 1e-9


@dataclass(frozen=True)
class Example:
    """The inputs of one example and the answer it got (None: not logged, the version's own answer)."""

    source: str  # "log request <id>" or "holdout row"
    frame: pd.DataFrame
    prediction: Any
    probabilities: list[float] | None


def _plain(value: Any) -> Any:
    value = value.item() if isinstance(value, np.generic) else value
    return value if value is None or isinstance(value, bool | int | float | str) else str(value)


def _example(project: Project, target: Target, loaded: LoadedModel) -> Example:
    version = target.version
    logged = project.predictions.query(model=target.name, version=version.version, limit=1, newest_first=True)
    if not logged.empty:
        row = logged.iloc[0]
        inputs = {
            c.name: [row[INPUT_PREFIX + c.name]]
            for c in version.signature.inputs
            if INPUT_PREFIX + c.name in row
        }
        proba = row["probabilities"]
        probabilities = None if proba is None or not len(proba) else [float(v) for v in proba]
        return Example(
            f"log request {row['request_id']}", pd.DataFrame(inputs), row["prediction"], probabilities
        )
    frame = rebuild(project, target).holdout.iloc[:1]
    pred, proba = loaded.predict(frame, on_invalid="flag")
    return Example("holdout row", frame, pred[0], None if proba is None else [float(v) for v in proba[0]])


def _nonzero(x: Any) -> int:
    return int(x.nnz) if hasattr(x, "nnz") else int(np.count_nonzero(np.asarray(x, dtype=float)))


def _step(name: str, step: Any, out: Any) -> dict[str, Any]:
    traced: dict[str, Any] = {"step": name, "shape": list(out.shape), "nonzero": _nonzero(out)}
    if isinstance(step, ColumnTransformer):
        traced["parts"] = {
            part: {"width": cut.stop - cut.start, "nonzero": _nonzero(out[:, cut])}
            for part, cut in step.output_indices_.items()
            if cut.stop > cut.start
        }
    return traced


def replay(estimator: Any, x: pd.DataFrame) -> tuple[list[dict[str, Any]], Any, list[float] | None]:
    """The steps' trace, the answer and the class probabilities of one row, step by step."""
    steps: list[dict[str, Any]] = []
    final = estimator
    if isinstance(estimator, Pipeline):
        for name, step in estimator.steps[:-1]:
            if step is None or step == "passthrough":
                continue
            x = step.transform(x)
            steps.append(_step(name, step, x))
        final = estimator.steps[-1][1]
    pred = np.asarray(final.predict(x))[0]
    proba = [float(v) for v in final.predict_proba(x)[0]] if hasattr(final, "predict_proba") else None
    return steps, pred, proba


def _equal(example: Example, pred: Any, proba: list[float] | None) -> bool:
    """Whether the replay gave the logged answer (the log may widen a class to a float or keep it as
    text) and, when both have them, the same probabilities to ``ATOL``."""
    logged, replayed = _plain(example.prediction), _plain(pred)
    if logged != replayed and str(logged) != str(replayed):
        return False
    if example.probabilities is None or proba is None:
        return True  # only the answer was logged: compared on that
    return len(proba) == len(example.probabilities) and bool(
        np.allclose(proba, example.probabilities, atol=ATOL, rtol=0)
    )


def single_example(project: Project, target: Target) -> CheckOutcome:
    """Replay one example through the version's pipeline and compare with the answer it got."""
    loaded = project.registry.load(target.version)
    example = _example(project, target, loaded)
    checked = loaded.rows(example.frame, on_invalid="flag").frame()
    steps, pred, proba = replay(loaded.estimator, checked)
    trace = {
        "example": example.source,
        "input": {c: _plain(checked[c].iloc[0]) for c in checked.columns},
        "steps": steps,
        "prediction": _plain(pred),
        "probabilities": proba,
        "logged_prediction": _plain(example.prediction),
        "logged_probabilities": example.probabilities,
    }
    equal = _equal(example, pred, proba)
    findings = () if equal else (_finding(target, trace),)
    metrics = {"steps": float(len(steps)), "equal": float(equal)}
    return CheckOutcome(
        passed=equal, metrics=metrics, findings=findings, params={**target.params(), "trace": trace}
    )


def _finding(target: Target, trace: dict[str, Any]) -> Finding:
    name = target.name
    return Finding(
        check=CHECK,
        severity=Severity.HIGH,
        title=f"{target.version.ref} replays {trace['example']} as {trace['prediction']!r}, but it answered "
        f"{trace['logged_prediction']!r}",
        evidence={"version": target.version.ref, **trace},
        why="The served answer cannot be explained by the stored model and the logged inputs: the server ran "
        "other code or inputs than the log and the registry say.",
        fix=f"compare the serving code and the version the route served (`mlfactory lineage --request ID`), "
        f"then redeploy {name} from the registry",
        model=name,
    )
