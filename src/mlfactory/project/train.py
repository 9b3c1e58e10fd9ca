"""Train → evaluate → gate against production → package → register, recorded as one tracked run."""

from __future__ import annotations

import dataclasses
import io
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from threadpoolctl import threadpool_limits

from mlfactory.config import ModelConfig
from mlfactory.config.models import SearchConfig
from mlfactory.data import profile_frame
from mlfactory.data.ingest import load_dataset
from mlfactory.entities import (
    DatasetVersion,
    GateResult,
    InputColumn,
    Lineage,
    Metric,
    ModelVersion,
    RunStatus,
    Signature,
    VersionStatus,
    gates_passed,
)
from mlfactory.errors import MLFactoryError, NotFoundError, ValidationError
from mlfactory.evaluation import (
    SliceMetrics,
    aligned_proba,
    compute_metrics,
    evaluate_gates,
    metrics_by_slice,
    model_card,
)
from mlfactory.inputs import signature_inputs
from mlfactory.monitoring.baseline import training_reference
from mlfactory.registry import FLAVOR, PRODUCTION, save_model
from mlfactory.tracking import ActiveRun, capture_environment, start_run
from mlfactory.training import FeedbackRows, TrainingRows, fit_model, merge_feedback, split_frame
from mlfactory.training.search import (
    TrialResult,
    TrialState,
    fitted_classes,
    predictions,
    run_search,
    stage_rows,
)
from mlfactory.training.space import with_params

if TYPE_CHECKING:
    from mlfactory.features.store import TrainingSet
    from mlfactory.project.core import Project


@dataclass(frozen=True)
class TrainResult:
    """What one `train` produced: the run, the registered version, its metrics and gate results."""

    run_id: str
    version: ModelVersion
    metrics: dict[str, Any]
    gates: tuple[GateResult, ...]
    champion: dict[str, Any] | None

    @property
    def passed(self) -> bool:
        return self.version.status == VersionStatus.READY


def _pick_dataset(
    project: Project, model: ModelConfig, ref: str | None, allow_invalid: bool
) -> DatasetVersion:
    if ref is None:
        versions = project.metadata.list_datasets(model.source)
        if not versions:
            raise NotFoundError(
                f"source '{model.source}' has no dataset version yet; run `mlfactory ingest {model.source}`"
            )
        ds = versions[-1]
    else:
        ds = project.dataset(ref)
    if not ds.valid and not allow_invalid:
        raise ValidationError(
            f"dataset {ds.id} failed validation, so training is blocked: "
            + "; ".join(ds.reasons)
            + ". Fix the data and ingest again, train on an earlier version with --dataset, "
            "or pass --allow-invalid (recorded on the run)",
            ds.reasons,
        )
    return ds


def _column_types(model: ModelConfig, ds: DatasetVersion) -> dict[str, str]:
    declared = ds.schema.get("columns", {})
    types = {c: declared.get(c, {}).get("type", "number") for c in model.features.numeric}
    types.update({c: "category" for c in model.features.categorical})
    types.update({c: "text" for c in model.features.text})
    return types


def _champion_metrics(
    project: Project, name: str, model: ModelConfig, holdout: pd.DataFrame, classes: list[Any] | None
) -> tuple[dict[str, Any] | None, str | None]:
    try:
        champion = project.registry.resolve(f"{name}@{PRODUCTION}")
    except NotFoundError:
        return None, None
    try:
        loaded = project.registry.load(champion)
        pred, proba = loaded.predict(holdout, on_invalid="flag")  # judged on the same rows as the challenger
    except MLFactoryError as exc:
        return {"error": str(exc)}, champion.ref
    proba = aligned_proba(proba, champion.signature.classes, classes)  # it may know other classes
    return compute_metrics(
        model.task, holdout[model.label].to_numpy(), pred, proba, classes, model.metric_names()
    ), champion.ref


def _reference_profile(
    train: pd.DataFrame, model: ModelConfig, types: dict[str, str], pred: np.ndarray, proba: np.ndarray | None
) -> dict[str, Any]:
    label_type = "category" if model.task == "classification" else "number"
    profile = profile_frame(train[[*types, model.label]], {**types, model.label: label_type})
    outputs = pd.DataFrame({"prediction": pred})
    out_types = {"prediction": label_type}
    if proba is not None:
        outputs["score"] = proba.max(axis=1)
        out_types["score"] = "number"
    profile["outputs"] = profile_frame(outputs, out_types)
    return profile


def _training_rows(
    project: Project, name: str, model: ModelConfig, ds: DatasetVersion, feedback: FeedbackRows | None
) -> TrainingRows:
    """The dataset version's rows plus labelled traffic new to it, each example once (see
    :mod:`mlfactory.training.feedback`)."""
    frame = load_dataset(project.artifacts, ds)
    key = project.config.sources[model.source].key
    needed = [*model.features.all(), model.label, *model.segments, *(key or [])]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValidationError(f"dataset {ds.id} lacks column(s) {missing} that model '{name}' needs")
    return merge_feedback(frame, feedback, model, key)


def _label_type(model: ModelConfig, ds: DatasetVersion) -> str:
    declared = ds.schema.get("columns", {}).get(model.label, {}).get("type")
    return str(declared or ("category" if model.task == "classification" else "number"))


def _typed_labels(labelled: pd.DataFrame, model: ModelConfig, label_type: str) -> pd.DataFrame:
    """Labels in the source's declared type: an integer label widened to floats on the way (by missing
    values in the source, or by a join) is an integer again, so the classes stay ``[0, 1]``."""
    column = labelled[model.label]
    if label_type != "integer" or column.dtype.kind in "iu":
        return labelled
    numbers = pd.to_numeric(column, errors="coerce")
    if numbers.isna().any() or (numbers % 1 != 0).any():
        bad = column[numbers.isna() | (numbers % 1 != 0)].head(3).tolist()
        raise ValidationError(f"label '{model.label}' is declared integer but holds {bad}")
    return labelled.assign(**{model.label: numbers.astype("int64")})


def _feedback_digest(project: Project, rows: TrainingRows) -> str | None:
    """The request ids of the labelled traffic a run trained on, stored as an artifact for lineage."""
    if not rows.request_ids:
        return None
    buffer = io.BytesIO()
    pq.write_table(pa.table({"request_id": rows.request_ids}), buffer, compression="zstd")
    return project.artifacts.put_bytes(buffer.getvalue())


@dataclass(frozen=True)
class Prepared:
    """What a model trains and is judged on: the dataset version, the rows drawn from it and from labelled
    traffic, the split, the column and label types, and the training set when a feature service joined in."""

    name: str
    model: ModelConfig
    ds: DatasetVersion
    rows: TrainingRows
    train: pd.DataFrame
    holdout: pd.DataFrame
    types: dict[str, str]
    label_type: str
    training_set: TrainingSet | None


@dataclass(frozen=True)
class Evaluated:
    """A fitted estimator and how it did on the holdout, against the gates and the champion."""

    estimator: Any
    classes: list[Any] | None
    y: np.ndarray
    pred: np.ndarray
    proba: np.ndarray | None
    metrics: dict[str, Any]
    slices: SliceMetrics
    champion: dict[str, Any] | None
    champion_ref: str | None
    gates: tuple[GateResult, ...]


def prepare(
    project: Project,
    model_name: str | None,
    *,
    dataset: str | None,
    allow_invalid: bool,
    feedback: FeedbackRows | None,
    max_rows: int | None,
) -> Prepared:
    """Pick the dataset version, add labelled traffic and store features, type the labels, keep the newest
    ``max_rows`` and split."""
    name, model = project.model_config(model_name)
    ds = _pick_dataset(project, model, dataset, allow_invalid)
    rows = _training_rows(project, name, model, ds, feedback)
    frame, training_set = rows.frame, None
    if model.feature_service:  # features from the store, joined point-in-time at each label's event time
        from mlfactory.features.training import with_service_features

        training_set = project.features.training_set(
            model.feature_service, frame, model.timestamp or "", on_missing=model.on_missing_features
        )
        frame, model = training_set.frame, with_service_features(model, training_set.spec)
    label_type = _label_type(model, ds)
    labelled = _typed_labels(frame[frame[model.label].notna()], model, label_type)
    if max_rows is not None and len(labelled) > max_rows:  # a sliding window over the newest rows
        if model.timestamp:
            labelled = labelled.sort_values(model.timestamp, kind="stable")
        labelled = labelled.tail(max_rows)
    train, holdout = split_frame(labelled, model)
    types = _column_types(model, ds)
    return Prepared(name, model, ds, rows, train, holdout, types, label_type, training_set)


def _run_params(p: Prepared) -> dict[str, Any]:
    model = p.model
    search = (
        {}
        if model.search is None
        else {
            "search.metric": model.search.metric,
            "search.trials": model.search.trials,
            "search.folds": model.search.folds,
            "search.seed": model.seed if model.search.seed is None else model.search.seed,
        }
    )
    return {
        **search,
        "estimator": model.model or model.estimator,
        **model.params,
        "split": model.split.strategy,
        "test_size": model.split.test_size,
        "seed": model.seed,
        "data.dataset_rows": p.rows.counts["dataset_rows"],
        "data.feedback_rows": p.rows.counts["feedback_rows"],
        "data.train_rows": len(p.train),
        "data.holdout_rows": len(p.holdout),
    }


# -- parameter search ---------------------------------------------------------------------------------------


def _record_trial(
    project: Project, p: Prepared, parent: str, environment: dict[str, Any], metric: str, trial: TrialResult
) -> None:
    """One trial as a run nested under the search's run (tag ``parent_run``): its params, each fold's score
    and the running mean by fold (the latest is its score), its state, and the error of a failed trial."""
    store, now = project.metadata, time.time()
    tags = {
        "model": p.name,
        "parent_run": parent,
        "search.trial": str(trial.number),
        "search.state": trial.state.value,
    }
    run_id = store.create_run(
        p.name, params=dict(trial.params), tags=tags, environment=environment, dataset_id=p.ds.id
    )
    values = [Metric(f"fold.{metric}", v, k, now) for k, v in enumerate(trial.fold_scores)]
    values += [Metric(metric, v, k, now) for k, v in enumerate(trial.running_means)]
    store.log_metrics(run_id, [*values, Metric("seconds", trial.seconds, 0, now)])
    failed = trial.state is TrialState.FAILED
    store.end_run(run_id, RunStatus.FAILED if failed else RunStatus.FINISHED, error=trial.error)


def search_params(
    project: Project, p: Prepared, search: SearchConfig, run: ActiveRun, environment: dict[str, Any]
) -> Prepared:
    """Search the model's params on its training part (never the holdout), each trial a run nested under
    ``run``; ``p`` with the winner's params, which ``run`` records with the best score."""
    stores = project.config.stores
    rows = stage_rows(
        p.train,
        p.model,
        project.artifacts,
        store=stores.artifacts,
        base=project.root,
        storage_options=stores.storage_options,
    )
    run.log_artifact("search_rows", rows.digest)
    result = run_search(
        p.name,
        p.model,
        rows,
        scorer=compute_metrics,
        executor=project.compute,
        on_trial=lambda trial: _record_trial(project, p, run.id, environment, search.metric, trial),
        threads=project.config.training.native_threads,
    )
    best = result.best
    run.log_params({**best.params, "search.rows": result.rows})
    run.log_metrics(
        {
            f"search.best.{result.metric}": result.best_score,
            **{f"search.{state.value}": result.count(state) for state in TrialState},
        }
    )
    run.set_tags({"search.best_trial": str(best.number), "search.stopped": result.stopped})
    return dataclasses.replace(p, model=with_params(p.model, best.params))


def fit_and_evaluate(project: Project, p: Prepared, run: ActiveRun) -> Evaluated:
    """Fit on the training part; score the holdout, its slices and the champion on the same rows; gate."""
    model = p.model
    started = time.perf_counter()
    estimator = fit_model(model, p.train)
    run.log_metric("fit_seconds", time.perf_counter() - started)
    classes = fitted_classes(estimator)
    y = p.holdout[model.label].to_numpy()
    pred, proba = predictions(estimator, p.holdout, model)
    names = model.metric_names()
    metrics = compute_metrics(model.task, y, pred, proba, classes, names)
    slices = metrics_by_slice(model.task, p.holdout, model.segments, y, pred, proba, classes, names)
    champion, champion_ref = _champion_metrics(project, p.name, model, p.holdout, classes)
    gates = tuple(evaluate_gates(model.gates, metrics, champion, champion_ref))
    run.log_metrics({k: v for k, v in metrics.items() if isinstance(v, float)})
    run.log_metrics(
        {
            f"slice.{col}={value}.{k}": v
            for col, per in slices.items()
            for value, m in per.items()
            for k, v in m.items()
            if isinstance(v, float)
        }
    )
    return Evaluated(estimator, classes, y, pred, proba, metrics, slices, champion, champion_ref, gates)


def _lineage(project: Project, p: Prepared, ev: Evaluated, run: ActiveRun, max_rows: int | None) -> Lineage:
    requests = _feedback_digest(project, p.rows)
    if requests:
        run.log_artifact("feedback_requests", requests)
    if p.training_set is not None:
        run.log_artifact("training_set", p.training_set.digest)
    from mlfactory.estimators.project_class import ProjectModel

    code = ev.estimator.source if isinstance(ev.estimator, ProjectModel) else None  # the code it ran
    return Lineage(
        dataset=p.ds.id,
        dataset_hash=p.ds.content_hash,
        source=p.model.source,
        run=run.id,
        project_file_sha256=project.loaded.file_hash,
        train_rows=len(p.train),
        holdout_rows=len(p.holdout),
        split=p.model.split.strategy,
        estimator=p.model.model or p.model.estimator,
        allow_invalid=not p.ds.valid,
        champion=ev.champion_ref,
        feedback_rows=p.rows.counts["feedback_rows"],
        rows=dict(p.rows.counts),
        feedback_requests=requests,
        max_rows=max_rows,
        features=None if p.training_set is None else p.training_set.lineage,
        model_module=None if code is None else code.path,
        model_module_sha256=None if code is None else code.sha256,
    )


def _signature(p: Prepared, ev: Evaluated, trusted: list[str]) -> Signature:
    signature = Signature(
        inputs=tuple(InputColumn.from_json(c) for c in signature_inputs(p.types, p.ds)),
        task=p.model.task,
        label=p.model.label,
        label_type=p.label_type,
        classes=None if ev.classes is None else tuple(ev.classes),
        trusted_types=tuple(trusted),
    )
    if p.training_set is not None:
        from mlfactory.features.training import annotate_signature

        signature = annotate_signature(signature, p.training_set.spec)
    return signature


def _profile(project: Project, p: Prepared, ev: Evaluated) -> dict[str, Any]:
    model = p.model
    return {
        **_reference_profile(p.train, model, p.types, ev.pred, ev.proba),
        "monitoring": training_reference(
            p.train,
            p.types,
            task=model.task,
            label=model.label,
            holdout_labels=ev.y,
            predictions=ev.pred,
            probabilities=ev.proba,
            classes=ev.classes,
            max_ece=project.config.monitoring.calibration_max_ece,
        ),
    }


def register(
    project: Project,
    p: Prepared,
    ev: Evaluated,
    run: ActiveRun,
    *,
    max_rows: int | None,
    actor: str | None,
) -> ModelVersion:
    """Save the model, describe it (signature, lineage, card, reference profile) and register it, ready or
    rejected by its gates."""
    digest, trusted = save_model(ev.estimator, project.artifacts, p.model.trusted_types)
    run.log_artifact("model", digest)
    signature = _signature(p, ev, trusted)
    lineage = _lineage(project, p, ev, run, max_rows)
    if p.model.serving.format == "onnx":  # served through ONNX Runtime: exported and checked now, or refused
        from mlfactory.project.onnx import with_onnx

        tolerance = p.model.serving.tolerance
        lineage = with_onnx(project, p.name, p.holdout, ev.estimator, signature, lineage, tolerance)
    card = model_card(
        name=p.name,
        version="{version}",
        description=project.config.description,
        estimator=p.model.model or p.model.estimator,
        task=p.model.task,
        label=p.model.label,
        signature=signature,
        metrics={k: v for k, v in ev.metrics.items() if k != "confusion_matrix"},
        gates=ev.gates,
        lineage=lineage,
        slices=ev.slices,
    )
    status = VersionStatus.READY if gates_passed(ev.gates) else VersionStatus.REJECTED
    version = project.metadata.create_model_version(
        p.name,
        status=status,
        run_id=run.id,
        artifact=digest,
        flavor=FLAVOR,
        signature=signature.to_json(),
        metrics={**ev.metrics, "slices": ev.slices},
        gates=[g.to_json() for g in ev.gates],
        profile=_profile(project, p, ev),
        lineage=lineage.to_json(),
        card=card,
        actor=actor or project.actor,
    )
    run.set_tags({"model_version": version.ref, "status": status.value})
    return version


def train_model(
    project: Project,
    model_name: str | None,
    *,
    dataset: str | None = None,
    allow_invalid: bool = False,
    feedback: FeedbackRows | None = None,
    max_rows: int | None = None,
    actor: str | None = None,
    search_timeout: float | None = None,
) -> TrainResult:
    """Train the declared model on a dataset version (the source's newest by default) and register it.

    ``feedback`` adds labelled production traffic (see :mod:`mlfactory.training.feedback`); what was used
    and what was left out is recorded in the run's params and the version's lineage and card.

    A model with a ``search`` block first searches its params by cross-validation on the training part
    (see :mod:`mlfactory.training.search`; each trial a run nested under this one), then fits the winner.
    ``search_timeout`` replaces the search block's ``timeout`` (the controller's retrain budget).

    A version that fails a gate is still registered, as ``rejected``, so the attempt and its reasons stay
    on record; it cannot take ``production`` without ``force``.
    """
    p = prepare(
        project,
        model_name,
        dataset=dataset,
        allow_invalid=allow_invalid,
        feedback=feedback,
        max_rows=max_rows,
    )
    tags = {"model": p.name, "source": p.model.source}
    if not p.ds.valid:
        tags["allow_invalid"] = "true"
    environment = capture_environment(project.root, project.loaded.file_hash)
    with start_run(
        project.metadata,
        p.name,
        params=_run_params(p),
        tags=tags,
        environment=environment,
        dataset_id=p.ds.id,
    ) as run:
        search = p.model.search
        if search is not None:
            if search_timeout is not None:
                search = search.model_copy(update={"timeout": search_timeout})
                p = dataclasses.replace(p, model=p.model.model_copy(update={"search": search}))
            p = search_params(project, p, search, run, environment)
        # native threads capped (training.native_threads): on a busy machine idle BLAS/OpenMP threads spin
        with threadpool_limits(limits=project.config.training.native_threads):
            ev = fit_and_evaluate(project, p, run)
            version = register(project, p, ev, run, max_rows=max_rows, actor=actor)
    return TrainResult(run.id, version, ev.metrics, ev.gates, ev.champion)
