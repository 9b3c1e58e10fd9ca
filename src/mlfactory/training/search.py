"""Parameter search before the gates: Optuna trials scored by cross-validation on the training part only.

The training part that :func:`~mlfactory.training.split.split_frame` returns is stored once as an artifact
(:func:`stage_rows`); every trial reads it by digest and cuts it into validation folds (time-ordered for a
time split, stratified for classification, shuffled otherwise). The holdout is never seen here: it stays for
the gates and the champion comparison after the winner is refitted.

Trials run in rounds through the project's executor: ask as many trials as it has workers (a seeded
``TPESampler``, lying constantly about the pending ones so a round's trials spread out), map
:func:`evaluate_trial` over them, tell the results. Without an executor the same rounds run through a
one-worker map in this process: one code path, and the same trials and winner as an executor of one
worker (a wider executor asks its rounds together, so its trials differ, seeded all the same).

Pruning follows Optuna's ``MedianPruner`` (after :data:`PRUNE_AFTER` completed trials, a trial whose best
running mean so far is worse than the median of the completed trials' running means at the same fold
stops). A trial on a worker cannot reach the study to ask ``should_prune``, so before each round the study's
medians per fold are taken (:func:`prune_thresholds`) and passed in, and the trial checks them between
folds (:func:`hopeless`). One worker gives exactly Optuna's decisions; a wider round judges its trials
against the trials completed before it.

A trial whose params make the estimator fail is recorded as failed with its error and the search goes on;
only when no trial completes does the search fail, naming the first errors.
"""

from __future__ import annotations

import functools
import io
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import optuna
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from optuna.distributions import BaseDistribution
from sklearn.model_selection import KFold, StratifiedKFold, TimeSeriesSplit
from threadpoolctl import threadpool_limits

from mlfactory.compute.base import Executor
from mlfactory.config import LOWER_IS_BETTER
from mlfactory.config.models import ModelConfig, SearchConfig
from mlfactory.errors import ConfigError, TrainingError, ValidationError
from mlfactory.estimators.predicting import predict_rows
from mlfactory.stores.artifacts import ArtifactStore, open_artifact_store
from mlfactory.training.fit import fit_model
from mlfactory.training.space import search_space, with_params

PRUNE_AFTER = 5  # completed trials before any is pruned (MedianPruner's n_startup_trials)

T = TypeVar("T")
R = TypeVar("R")


class Scorer(Protocol):
    """The project's metric definitions (:func:`mlfactory.evaluation.compute_metrics`), passed in so a
    trial scores its folds exactly as the holdout is scored; a module-level function, so it pickles."""

    def __call__(
        self,
        task: str,
        y: np.ndarray,
        pred: np.ndarray,
        proba: np.ndarray | None,
        classes: Sequence[Any] | None,
        names: Sequence[str],
    ) -> dict[str, Any]: ...


class TrialState(StrEnum):
    COMPLETE = "complete"
    PRUNED = "pruned"  # worse than the median of the completed trials after some fold
    FAILED = "failed"  # the estimator raised for these params


@dataclass(frozen=True)
class Rows:
    """Where the trials read the rows they cross-validate: the training part, stored as one artifact.

    Plain values only (the artifact store's URL, the folder it is relative to, its non-secret options and
    the digest), so a worker elsewhere opens the store and reads the rows verified by their hash.
    """

    store: str
    base: str
    storage_options: tuple[tuple[str, str | int | bool], ...]
    digest: str

    def load(self) -> pd.DataFrame:
        """The rows (read once per process and kept: every trial of a search reads the same)."""
        return _read_rows(self)


@functools.lru_cache(maxsize=2)
def _read_rows(rows: Rows) -> pd.DataFrame:
    store = open_artifact_store(rows.store, Path(rows.base), dict(rows.storage_options))
    return pq.read_table(io.BytesIO(store.get_bytes(rows.digest))).to_pandas()


def stage_rows(
    train: pd.DataFrame,
    model: ModelConfig,
    artifacts: ArtifactStore,
    *,
    store: str,
    base: Path,
    storage_options: Mapping[str, str | int | bool],
) -> Rows:
    """Store the training part for the trials (oldest first for a time split, so folds follow time)."""
    if model.split.strategy == "time" and model.timestamp:
        train = train.sort_values(model.timestamp, kind="stable")
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(train, preserve_index=True), buffer, compression="zstd")
    digest = artifacts.put_bytes(buffer.getvalue())
    return Rows(store, str(base), tuple(sorted(storage_options.items())), digest)


def fold_indices(frame: pd.DataFrame, model: ModelConfig, folds: int, seed: int) -> list[tuple[Any, Any]]:
    """(fit positions, validation positions) per fold of ``frame``: time-ordered folds for a time split
    (each validates on rows newer than it fits on), stratified folds for classification, else shuffled."""
    if model.split.strategy == "time":
        return list(TimeSeriesSplit(n_splits=folds).split(frame))
    if model.task == "classification":
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        return list(splitter.split(frame, frame[model.label]))
    return list(KFold(n_splits=folds, shuffle=True, random_state=seed).split(frame))


def predictions(
    estimator: Any, frame: pd.DataFrame, model: ModelConfig
) -> tuple[np.ndarray, np.ndarray | None]:
    """The estimator's predictions for ``frame``, and class probabilities for a classifier that gives them."""
    x = frame[model.features.all()].copy()
    for col in model.features.text:
        x[col] = x[col].fillna("").astype(str)
    return predict_rows(estimator, x, proba=model.task == "classification")


def fitted_classes(estimator: Any) -> list[Any] | None:
    """A fitted classifier's classes as plain Python values (None for a regressor)."""
    return [c.item() if isinstance(c, np.generic) else c for c in getattr(estimator, "classes_", [])] or None


@dataclass(frozen=True)
class TrialTask:
    """One trial to evaluate, in plain values: its params, the model they go into, where the rows are, how
    to fold and score them, the pruning threshold after each fold (None: no pruning there yet), and the
    OpenMP/BLAS threads its fits may use (``training.native_threads``; None: the libraries' defaults)."""

    number: int
    params: dict[str, Any]
    model: ModelConfig
    rows: Rows
    folds: int
    seed: int
    metric: str
    maximize: bool
    scorer: Scorer
    thresholds: tuple[float | None, ...]
    threads: int | None


@dataclass(frozen=True)
class TrialResult:
    """What a trial did: its params, state, each fold's score (as far as it got) and any error."""

    number: int
    params: dict[str, Any]
    state: TrialState
    fold_scores: tuple[float, ...]
    seconds: float
    error: str | None = None

    @property
    def running_means(self) -> list[float]:
        return running_means(self.fold_scores)

    @property
    def score(self) -> float | None:
        """The mean fold score of a completed trial."""
        return self.running_means[-1] if self.state is TrialState.COMPLETE else None


def running_means(scores: Sequence[float]) -> list[float]:
    """The mean of the fold scores after each fold: the intermediate values that pruning compares."""
    return [float(np.mean(scores[: k + 1])) for k in range(len(scores))]


def hopeless(running_means: Sequence[float], threshold: float | None, maximize: bool) -> bool:
    """MedianPruner's rule: the best running mean so far is worse than the completed trials' median."""
    if threshold is None:
        return False
    best = max(running_means) if maximize else min(running_means)
    if math.isnan(best):
        return True
    return best < threshold if maximize else best > threshold


def _fold_score(task: TrialTask, model: ModelConfig, fit_part: pd.DataFrame, check: pd.DataFrame) -> float:
    estimator = fit_model(model, fit_part)
    pred, proba = predictions(estimator, check, model)
    y = check[model.label].to_numpy()
    value = task.scorer(model.task, y, pred, proba, fitted_classes(estimator), [task.metric])[task.metric]
    if value is None:
        raise TrainingError(
            f"{task.metric} is undefined on a validation fold (one class, or no probabilities)"
        )
    return float(value)


def evaluate_trial(task: TrialTask) -> TrialResult:
    """Cross-validate one trial's params on the stored training part, stopping early when it is hopeless.

    Module-level with plain arguments, so an executor can run it on another process or machine. Any error
    of the estimator becomes a failed trial (never an exception), so one bad value does not end the search.
    The trial caps its own native threads (``task.threads``): a worker does not inherit the caller's cap.
    """
    started = time.perf_counter()
    scores: list[float] = []

    def result(state: TrialState, error: str | None = None) -> TrialResult:
        seconds = time.perf_counter() - started
        return TrialResult(task.number, task.params, state, tuple(scores), seconds, error)

    frame = task.rows.load()  # a store that cannot be read fails the search, not the trial
    model = with_params(task.model, task.params)
    # native threads capped (training.native_threads): on a busy machine idle BLAS/OpenMP threads spin
    with threadpool_limits(limits=task.threads):
        try:
            for k, (fit_at, check_at) in enumerate(fold_indices(frame, model, task.folds, task.seed)):
                scores.append(_fold_score(task, model, frame.iloc[fit_at], frame.iloc[check_at]))
                if hopeless(running_means(scores), task.thresholds[k], task.maximize):
                    return result(TrialState.PRUNED)
        except Exception as exc:  # the estimator's own errors for these params: recorded, the search goes on
            return result(TrialState.FAILED, f"{type(exc).__name__}: {exc}")
    return result(TrialState.COMPLETE)


def prune_thresholds(study: optuna.Study, folds: int) -> tuple[float | None, ...]:
    """Per fold, the median running mean of the completed trials (None until :data:`PRUNE_AFTER` trials
    completed): what ``MedianPruner`` compares a trial's best running mean with."""
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(complete) < max(PRUNE_AFTER, 1):
        return (None,) * folds
    out: list[float | None] = []
    for k in range(folds):
        values = [t.intermediate_values[k] for t in complete if k in t.intermediate_values]
        median = float(np.nanmedian(values)) if values else math.nan
        out.append(None if math.isnan(median) else median)
    return tuple(out)


def _tell(study: optuna.Study, trial: optuna.Trial, result: TrialResult) -> None:
    for step, value in enumerate(result.running_means):
        trial.report(value, step)
    if result.state is TrialState.COMPLETE:
        study.tell(trial, result.score)
    elif result.state is TrialState.PRUNED:
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    else:
        study.tell(trial, state=optuna.trial.TrialState.FAIL)


def _in_process(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """The executor's ``map`` without an executor: one item after another, here."""
    return [fn(item) for item in items]


@dataclass(frozen=True)
class SearchResult:
    """A finished search: every trial in the order asked, the winner, and why it stopped."""

    metric: str
    maximize: bool
    folds: int
    rows: int
    trials: tuple[TrialResult, ...]
    best: TrialResult
    stopped: str  # "trials": all were asked; "timeout": the time ran out first

    @property
    def best_score(self) -> float:
        """The winner's mean fold score."""
        return float(np.mean(self.best.fold_scores))

    def count(self, state: TrialState) -> int:
        return sum(1 for t in self.trials if t.state is state)


def _declared(name: str, model: ModelConfig) -> SearchConfig:
    if model.search is None:
        raise ConfigError(f"model '{name}' declares no search; add a search: block to models.{name}")
    return model.search


def _check_folds(frame: pd.DataFrame, model: ModelConfig, folds: int, seed: int) -> None:
    if model.task == "classification" and model.split.strategy != "time":
        counts = frame[model.label].value_counts()
        if counts.min() < folds:
            rarest = counts.idxmin()
            rarest = rarest.item() if isinstance(rarest, np.generic) else rarest
            raise ValidationError(
                f"the training rows cannot be cut into {folds} stratified validation folds: class "
                f"{rarest!r} has {counts.min()} row(s); lower search.folds or train on more rows"
            )
    try:
        fold_indices(frame, model, folds, seed)
    except ValueError as exc:
        raise ValidationError(
            f"the {len(frame)} training rows cannot be cut into {folds} validation folds: {exc}; "
            "lower search.folds or train on more rows"
        ) from None


def _winner(name: str, results: Sequence[TrialResult], maximize: bool) -> TrialResult:
    complete = [r for r in results if r.state is TrialState.COMPLETE]
    if not complete:
        errors = "; ".join(f"trial {r.number} {r.params}: {r.error}" for r in results if r.error)
        raise TrainingError(
            f"no trial of model '{name}''s search completed ({len(results)} ran); first errors: "
            f"{errors[:1500] or 'none'}. Fix the search space or the estimator's params"
        )
    sign = 1.0 if maximize else -1.0
    return max(complete, key=lambda r: sign * (r.score or 0.0))  # the first asked among equals


@dataclass
class _Rounds:
    """Trials in rounds of the executor's workers: ask a round, map :func:`evaluate_trial` over it (the
    pruning thresholds taken before the round), tell each result and pass it on, in the order asked."""

    study: optuna.Study
    space: dict[str, BaseDistribution]
    plan: TrialTask  # what every trial shares; each round fills in number, params and thresholds
    executor: Executor | None
    on_trial: Callable[[TrialResult], None]
    results: list[TrialResult] = field(default_factory=list)

    def run(self, most: int) -> None:
        workers = self.executor.workers if self.executor is not None else 1
        asked = [self.study.ask(self.space) for _ in range(min(max(workers, 1), most))]
        thresholds = prune_thresholds(self.study, self.plan.folds)
        tasks = [replace(self.plan, number=t.number, params=t.params, thresholds=thresholds) for t in asked]
        map_trials = self.executor.map if self.executor is not None else _in_process
        for trial, result in zip(asked, map_trials(evaluate_trial, tasks), strict=True):
            _tell(self.study, trial, result)
            self.on_trial(result)
            self.results.append(result)


def run_search(
    name: str,
    model: ModelConfig,
    rows: Rows,
    *,
    scorer: Scorer,
    executor: Executor | None,
    on_trial: Callable[[TrialResult], None],
    threads: int | None,
    clock: Callable[[], float] = time.monotonic,
) -> SearchResult:
    """Search ``models.<name>.search.space`` on the staged training part and return the winner.

    Args:
        name, model: the model (its ``search`` block, estimator, params, task and split).
        rows: the training part, staged by :func:`stage_rows`.
        scorer: the project's metric definitions.
        executor: where trials run, ``executor.workers`` at a time; None runs them here, one at a time.
        on_trial: called with each result as it is told to the study (the caller records it).
        threads: the OpenMP/BLAS threads each trial's fits may use, wherever it runs
            (``training.native_threads``; None: the libraries' defaults).
        clock: seconds, for ``timeout`` (which stops asking for new trials, never cuts one short).

    Raises:
        ConfigError: a searched key that the estimator does not take.
        ValidationError: too few rows (or of a class) for the folds.
        TrainingError: no trial completed (the message names the first errors).
    """
    search = _declared(name, model)
    seed = model.seed if search.seed is None else search.seed
    space = search_space(name, model)
    frame = rows.load()
    _check_folds(frame, model, search.folds, seed)
    maximize = search.metric not in LOWER_IS_BETTER
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # each trial is recorded as a run instead
    study = optuna.create_study(
        direction="maximize" if maximize else "minimize",
        sampler=optuna.samplers.TPESampler(seed=seed, constant_liar=True),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=PRUNE_AFTER),  # applied between folds, see above
    )
    plan = TrialTask(-1, {}, model, rows, search.folds, seed, search.metric, maximize, scorer, (), threads)
    rounds = _Rounds(study, space, plan, executor, on_trial)
    started, stopped = clock(), "trials"
    while len(rounds.results) < search.trials:
        if search.timeout is not None and clock() - started >= search.timeout:
            stopped = "timeout"
            break
        rounds.run(search.trials - len(rounds.results))
    best = _winner(name, rounds.results, maximize)
    return SearchResult(
        search.metric, maximize, search.folds, len(frame), tuple(rounds.results), best, stopped
    )
