"""Parameter search: the search block's validation, and trials on the training part, seeded, pruned like
Optuna's MedianPruner, failing one trial at a time."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from mlfactory.compute import LocalExecutor
from mlfactory.config import effective_settings, load_project_config
from mlfactory.config.models import ModelConfig
from mlfactory.errors import ConfigError, TrainingError, ValidationError
from mlfactory.evaluation import compute_metrics
from mlfactory.stores import LocalArtifactStore
from mlfactory.training.search import (
    PRUNE_AFTER,
    Rows,
    SearchResult,
    TrialResult,
    TrialState,
    fold_indices,
    hopeless,
    prune_thresholds,
    run_search,
    stage_rows,
)
from mlfactory.training.space import search_space

PROJECT = """
name: demo
sources:
  s: {kind: csv, path: data.csv}
models:
  m:
    source: s
    label: y
    features: {numeric: [a, b]}
    search:
SEARCH
"""
SPACE = "      metric: f1\n      space:\n        C: {loguniform: [0.01, 100]}\n"


def load(tmp_path: Path, search: str) -> ModelConfig:
    (tmp_path / "mlfactory.yaml").write_text(PROJECT.replace("SEARCH\n", search))
    return load_project_config(tmp_path, env={}).config.models["m"]


@pytest.mark.parametrize(
    ("search", "message"),
    [
        (
            SPACE.replace("loguniform: [0.01", "loguniform: [0"),
            r"search\.space\.C: loguniform needs bounds above 0",
        ),
        (
            SPACE.replace("loguniform: [0.01, 100]", "uniform: [10, 1]"),
            r"space\.C: uniform bounds .* are reversed",
        ),
        (
            SPACE.replace("loguniform", "normal"),
            r"space\.C: unknown distribution 'normal'; known distributions: uniform, loguniform, int, choice",
        ),
        (
            SPACE.replace("{loguniform: [0.01, 100]}", "{int: [2.5, 12]}"),
            r"space\.C: int needs whole-number bounds",
        ),
        (
            SPACE.replace("{loguniform: [0.01, 100]}", "{int: [2, 11], step: 2}"),
            r"space\.C: int bounds \[2, 11\] are not a whole number of steps of 2",
        ),
        (SPACE.replace("{loguniform: [0.01, 100]}", "{int: [0, 8], log: true}"), r"space\.C: int with log"),
        (SPACE.replace("{loguniform: [0.01, 100]}", "{uniform: [0, 1], log: true}"), r"go with int only"),
        (
            SPACE.replace("{loguniform: [0.01, 100]}", "{choice: []}"),
            r"space\.C: choice needs a non-empty list",
        ),
        (SPACE.replace("{loguniform: [0.01, 100]}", "0.5"), r"space\.C: got 0\.5; write \{uniform"),
        (SPACE + "      trials: 0\n", r"search\.trials: Input should be greater than or equal to 1"),
        (SPACE + "      folds: 1\n", r"search\.folds: Input should be greater than or equal to 2"),
        (SPACE + "      timeout: soon\n", r"search\.timeout: 'soon' is not a duration"),
        (
            SPACE.replace("metric: f1", "metric: rmse"),
            r"search\.metric 'rmse' is not a classification metric",
        ),
        ("      metric: f1\n      space: {}\n", r"search\.space: .*at least 1 item"),
        (SPACE + "      sampler: tpe\n", r"search\.sampler: unknown field"),
    ],
)
def test_a_bad_search_block_is_refused_naming_the_key(tmp_path: Path, search: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, search)


def test_a_search_block_reads_durations_and_defaults_and_shows_as_written(tmp_path: Path) -> None:
    text = SPACE + "        max_iter: {int: [100, 400], step: 100}\n      timeout: 20m\n"
    model = load(tmp_path, text)
    assert model.search is not None
    assert (model.search.timeout, model.search.folds, model.search.trials, model.search.seed) == (
        1200.0,
        3,
        20,
        None,
    )
    shown = dict((k, v) for k, v, _ in effective_settings(load_project_config(tmp_path, env={})))
    assert shown["models.m.search.space.C.loguniform"] == "[0.01, 100.0]"
    assert shown["models.m.search.space.max_iter.int"] == "[100, 400]"
    assert shown["models.m.search.space.max_iter.step"] == "100"


def test_a_searched_key_the_estimator_does_not_take_is_named_with_the_ones_it_does(tmp_path: Path) -> None:
    model = load(tmp_path, SPACE + "        max_depth: {int: [2, 12]}\n")
    with pytest.raises(
        ConfigError,
        match=r"models\.m\.search\.space\.max_depth: not a parameter of "
        r"sklearn\.linear_model\.LogisticRegression \(its parameters: C, class_weight",
    ):
        search_space("m", model)
    assert set(search_space("m", load(tmp_path, SPACE))) == {"C"}


# -- searching ------------------------------------------------------------------------------------------


def emails(rows: int = 240, seed: int = 0) -> pd.DataFrame:
    """Two numeric columns that decide a noisy label (about a third positive), and a timestamp (rows
    shuffled in time)."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=rows), rng.normal(size=rows)
    y = (a + 0.5 * b + rng.normal(scale=0.8, size=rows) > 0.5).astype(int)
    when = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(rng.permutation(rows), unit="h")
    return pd.DataFrame({"a": a, "b": b, "y": y, "at": when})


def model(space: dict[str, Any], **search: Any) -> ModelConfig:
    return ModelConfig.model_validate(
        {
            "source": "s",
            "label": "y",
            "timestamp": "at",
            "features": {"numeric": ["a", "b"]},
            "search": {"metric": "f1", "trials": 6, "space": space, **search},
        }
    )


SMALL = {"C": {"loguniform": [0.001, 10]}, "class_weight": {"choice": [None, "balanced"]}}


def staged(tmp_path: Path, m: ModelConfig, frame: pd.DataFrame | None = None) -> Rows:
    store = LocalArtifactStore(tmp_path / "artifacts")
    data = emails() if frame is None else frame
    return stage_rows(data, m, store, store=str(tmp_path / "artifacts"), base=tmp_path, storage_options={})


def search(m: ModelConfig, rows: Rows, **kw: Any) -> tuple[SearchResult, list[TrialResult]]:
    told: list[TrialResult] = []
    result = run_search(
        "m", m, rows, scorer=compute_metrics, executor=None, on_trial=told.append, threads=1, **kw
    )
    return result, told


def trials(result: SearchResult) -> list[tuple[Any, ...]]:
    return [(t.number, t.params, t.state, t.fold_scores) for t in result.trials]


def test_the_same_seed_gives_the_same_trials_and_winner(tmp_path: Path) -> None:
    m = model(SMALL)
    rows = staged(tmp_path, m)
    first, told = search(m, rows)
    again, _ = search(m, rows)
    assert trials(first) == trials(again) and first.best.number == again.best.number
    assert [t.number for t in told] == list(range(6)) and first.rows == 240
    complete = [t for t in first.trials if t.state is TrialState.COMPLETE]
    assert first.best.score == max(t.score or 0.0 for t in complete) == first.best_score
    other, _ = search(model(SMALL, seed=7), rows)
    assert [t.params for t in other.trials] != [t.params for t in first.trials]


class Rounds:
    """An executor's ``workers`` and ``map``, in this process, noting the size of each round it is given."""

    workers = 2

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def map(self, fn: Any, items: list[Any]) -> list[Any]:
        self.sizes.append(len(items))
        return [fn(item) for item in items]


def test_a_process_executor_runs_the_trials_the_in_process_map_does(tmp_path: Path) -> None:
    m = model(SMALL, trials=4)
    rows = staged(tmp_path, m)
    here, _ = search(m, rows)
    executor = LocalExecutor(workers=1)  # another process: the task and its result cross by pickle
    try:
        there = run_search(
            "m", m, rows, scorer=compute_metrics, executor=executor, on_trial=lambda t: None, threads=1
        )
    finally:
        executor.close()
    assert trials(there) == trials(here) and there.best.number == here.best.number


def test_trials_are_asked_in_rounds_of_the_executors_workers(tmp_path: Path) -> None:
    m = model(SMALL, trials=5)
    rounds, told = Rounds(), []
    result = run_search(
        "m", m, staged(tmp_path, m), scorer=compute_metrics, executor=rounds, on_trial=told.append, threads=1
    )
    assert rounds.sizes == [2, 2, 1] and [t.number for t in told] == list(range(5)) == [
        t.number for t in result.trials
    ]


def native_threads_scorer(
    task: str, y: np.ndarray, pred: np.ndarray, proba: Any, classes: Any, names: Any
) -> dict[str, Any]:
    """Scores a fold by the most OpenMP/BLAS threads the native libraries may use during the trial."""
    return {name: float(max(int(lib["num_threads"]) for lib in threadpool_info())) for name in names}


@pytest.mark.parametrize("where", ["here", "worker"])
def test_each_trial_caps_its_native_threads_wherever_it_runs(tmp_path: Path, where: str) -> None:
    """A worker does not inherit the caller's limits (nor does a trial keep them): each applies
    ``training.native_threads`` itself."""
    m = model(SMALL, trials=2)
    rows = staged(tmp_path, m)
    for threads in (1, 3):
        executor: Any = Rounds() if where == "here" else LocalExecutor(workers=1)
        try:
            with threadpool_limits(limits=2):  # what the libraries would use without the cap
                result = run_search(
                    "m",
                    m,
                    rows,
                    scorer=native_threads_scorer,
                    executor=executor,
                    on_trial=lambda t: None,
                    threads=threads,
                )
        finally:
            if where == "worker":
                executor.close()
        scores = {s for t in result.trials for s in t.fold_scores}
        assert scores == {float(threads)}, [t.error for t in result.trials]


def test_a_failing_value_fails_its_trials_and_the_search_goes_on(tmp_path: Path) -> None:
    m = model({"C": {"choice": [-1.0, 1.0]}})
    result, told = search(m, staged(tmp_path, m))
    failed = [t for t in told if t.state is TrialState.FAILED]
    assert failed and all(t.params == {"C": -1.0} and "'C' parameter" in (t.error or "") for t in failed)
    assert result.count(TrialState.FAILED) == len(failed) < 6
    assert result.best.params == {"C": 1.0} and result.best.state is TrialState.COMPLETE


def test_a_search_where_every_trial_fails_names_the_first_errors(tmp_path: Path) -> None:
    m = model({"C": {"choice": [-1.0, -2.0]}}, trials=3)
    with pytest.raises(
        TrainingError, match=r"no trial of model 'm''s search completed \(3 ran\).*trial 0 .*'C'"
    ):
        search(m, staged(tmp_path, m))


def test_the_timeout_stops_asking_for_new_trials(tmp_path: Path) -> None:
    m = model(SMALL, timeout="15s")
    ticks = itertools.count(0, 10)  # every look at the clock is 10 s later
    result, told = search(m, staged(tmp_path, m), clock=lambda: float(next(ticks)))
    assert len(told) == 1 and result.stopped == "timeout" and result.best is told[0]
    result, told = search(model(SMALL), staged(tmp_path, m), clock=lambda: float(next(ticks)))
    assert len(told) == 6 and result.stopped == "trials"


def test_hopeless_trials_stop_after_the_fold_that_shows_it(tmp_path: Path) -> None:
    """A tiny C predicts the majority class everywhere (f1 0): once five trials completed, such a trial stops
    after the first fold whose running mean falls below the completed trials' median there."""
    m = model({"C": {"loguniform": [1e-7, 10]}}, trials=12, folds=4)
    result, _ = search(m, staged(tmp_path, m))
    assert result.count(TrialState.PRUNED) >= 2
    for i, trial in enumerate(result.trials):
        before = [t for t in result.trials[:i] if t.state is TrialState.COMPLETE]
        if len(before) < PRUNE_AFTER:
            assert trial.state is TrialState.COMPLETE
            continue
        medians = [float(np.median([t.running_means[k] for t in before])) for k in range(4)]
        below = [max(trial.running_means[: k + 1]) < medians[k] for k in range(len(trial.fold_scores))]
        assert (trial.state is TrialState.PRUNED) == any(below)
        assert len(trial.fold_scores) == (below.index(True) + 1 if any(below) else 4)
    assert result.best.params["C"] > 0.01


def test_folds_cut_the_training_part_only_and_by_time_for_a_time_split(tmp_path: Path) -> None:
    frame = emails()
    timed = model(SMALL).model_copy(
        update={"split": model(SMALL).split.model_copy(update={"strategy": "time"})}
    )
    rows = staged(tmp_path, timed, frame).load()
    assert sorted(rows.index) == sorted(frame.index)  # every staged row is one of the rows given, each once
    for fit_at, check_at in fold_indices(rows, timed, 3, 42):
        assert rows["at"].iloc[fit_at].max() < rows["at"].iloc[check_at].min()  # validated on newer rows
    shares = [rows["y"].iloc[check].mean() for _, check in fold_indices(rows, model(SMALL), 3, 42)]
    assert max(shares) - min(shares) < 0.02  # stratified: each fold keeps the label's share


def test_too_few_rows_of_a_class_for_the_folds_is_a_validation_error(tmp_path: Path) -> None:
    frame = emails()
    frame.loc[frame.index[frame["y"] == 1][2:], "y"] = 0  # two positive rows left
    m = model(SMALL, folds=3)
    with pytest.raises(
        ValidationError,
        match="cannot be cut into 3 stratified validation folds: class 1 has 2 row.*lower search.folds",
    ):
        search(m, staged(tmp_path, m, frame))


def test_pruning_between_folds_decides_as_optunas_median_pruner() -> None:
    """Seeded histories of completed trials and a new trial's running means: pruning on the thresholds taken
    before the trial agrees with MedianPruner asked with the trial in the study, fold by fold."""
    rng = np.random.default_rng(11)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=PRUNE_AFTER)
    decided = set()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for _ in range(400):
        maximize = bool(rng.integers(2))
        study = optuna.create_study(direction="maximize" if maximize else "minimize")
        for _ in range(rng.integers(0, 12)):
            means = rng.uniform(size=3).round(1)  # rounded: ties with the median happen
            study.add_trial(
                optuna.trial.create_trial(
                    value=float(means[-1]), intermediate_values=dict(enumerate(means.tolist()))
                )
            )
        thresholds = prune_thresholds(study, 3)
        means = rng.uniform(size=3).round(1).tolist()
        for step in range(3):
            trial = optuna.trial.create_trial(
                state=optuna.trial.TrialState.RUNNING, intermediate_values=dict(enumerate(means[: step + 1]))
            )
            ours = hopeless(means[: step + 1], thresholds[step], maximize)
            assert ours == pruner.prune(study, trial), (maximize, thresholds, means, step)
            decided.add(ours)
    assert decided == {True, False}
