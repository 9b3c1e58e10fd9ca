"""Batch scoring on Ray Data, when the project's ``compute`` is Ray: the input's files scored by a pool of
actors, the answers the same row for row as scoring on this machine.

The input's files (its partitions) are the rows of a Ray dataset; ``map_batches`` hands them one at a time to
a pool of :class:`FileScorer` actors (one per CPU of the cluster, at most one per file). Each actor loads the
version once, from the artifact store by digest with its bytes verified (the registry's own loading code: no
model object travels from here), and scores its files with :func:`~mlfactory.project.batch.score_file`:
the chunks, checks, predictions and row numbers of a whole-input run. It writes its parts whole into a
hidden staging folder beside the output (``.staging-<id>``, skipped by every reader of the folder); once
every file is scored, this process renames them into the output in the input's order (``part-NNNNN`` as
the local run names them, or one file) and gathers the refused rows. Nothing appears in the output before
that, and a failed run removes what it staged and published, so no output is left that looks complete.

When a file fails (``--on-bad-rows fail``, an unreadable file), the actors skip the files after it and finish
the ones before it, so the error raised is the input's first, the one a local run raises; the staging folder
is removed once no actor can write to it any more.

A worker that dies is survived by Ray's retries, as many as the executor's ``max_retries``: its actor is
restarted and its file scored again from the start, replacing what the lost attempt staged. A file whose
worker dies every time fails the run with a :class:`~mlfactory.errors.ComputeError`.

On a cluster reached by ``ray://`` the pipeline is driven by a task on the cluster (Ray Data cannot drive one
from a client), and the files' progress is reported once they are all scored.

The staging folder is on the output's filesystem, so a cluster of several machines needs an output they all
reach (object storage or a shared disk). A feature-service version is scored on this machine: its
point-in-time features come from the project's feature store, which only the project opens.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import time
import uuid
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow.fs as pafs

from mlfactory import errors
from mlfactory.compute import Executor, RayExecutor
from mlfactory.compute.base import task_failed, worker_died
from mlfactory.compute.ray import worker_death
from mlfactory.errors import ComputeError, MLFactoryError, ValidationError
from mlfactory.inputs import InputSpec
from mlfactory.project.batch import (
    FileScores,
    InputFile,
    OnBadRows,
    Place,
    ProgressCallback,
    ScoreProgress,
    ScoreResult,
    check_output,
    check_settings,
    input_files,
    no_rows,
    open_input,
    open_place,
    publish,
    rejected_path,
    require_columns,
    score_file,
    storage_failure,
)

if TYPE_CHECKING:
    from mlfactory.entities import ModelVersion
    from mlfactory.registry.loaded import LoadedModel


def ray_to_score(compute: Executor, version: ModelVersion) -> RayExecutor | None:
    """The Ray a batch run of ``version`` goes to: the project's, when it computes on Ray and the version
    needs no feature store lookups; None to score on this machine."""
    if isinstance(compute, RayExecutor) and not version.signature.feature_service:
        return compute
    return None


@dataclass(frozen=True)
class RayScoring:
    """What each actor needs, all plain settings: where the version's artifact is and which version it is,
    where the input is, and how to score."""

    version: ModelVersion
    artifacts: str  # ``stores.artifacts``, relative paths under ``root``
    root: Path
    storage_options: Mapping[str, Any]
    source: str  # the input as given, relative paths under ``base``
    base: Path
    on_bad_rows: OnBadRows
    batch_rows: int


class FileScorer:
    """A Ray Data actor: the version loaded once, then one input file scored per call."""

    def __init__(self, job: RayScoring, staging: str) -> None:
        """
        Args:
            job: the version, the stores, the input and the settings.
            staging: the run's staging folder (a ``job.base``-relative path or a URL).
        """
        self.job = job
        self.staging = open_place(staging, job.base, job.storage_options)
        self.source = open_place(job.source, job.base, job.storage_options)
        self.model: LoadedModel | MLFactoryError
        try:
            self.model = _load(job)
        except MLFactoryError as exc:  # e.g. bytes failing verification: reported for the first file
            self.model = exc

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = [
            self._one(int(i), str(p), int(n), int(f)) for i, p, n, f in zip(*_columns(batch), strict=True)
        ]
        return {key: np.array([row[key] for row in rows]) for key in _RESULT}

    def _one(self, position: int, path: str, rows: int, first: int) -> dict[str, Any]:
        """One file scored into its own staging folder (emptied first: a retried attempt starts over); a
        mlfactory error is returned as data, so the driver raises it as a local run would."""
        if _stopped_before(self.staging, position):
            return _row(position)  # read by no one: the run has failed
        target = self.staging.beside(posixpath.join(self.staging.path, f"file-{position:05d}"))
        _remove(target.fs, target.path, rejected_path(target.path))
        try:
            if isinstance(self.model, MLFactoryError):
                raise self.model
            file = InputFile(path, rows, first)
            done = score_file(
                self.model, self.source, file, target, self.job.on_bad_rows, self.job.batch_rows
            )
        except MLFactoryError as exc:
            reasons = exc.reasons if isinstance(exc, ValidationError) else []
            return _row(position, error=(type(exc).__name__, str(exc), "\n".join(reasons)))
        return _row(position, done=done)


_RESULT = ("file", "rows_in", "rows_scored", "bad_rows", "parts", "rejected", "error", "message", "reasons")
_COUNTS = ("rows_in", "rows_scored", "bad_rows")
_STOP = "stop-after"  # in the staging folder: the position of the first file known to have failed


def _columns(batch: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    return batch["file"], batch["path"], batch["rows"], batch["first"]


def _row(
    position: int, done: FileScores | None = None, error: tuple[str, str, str] = ("", "", "")
) -> dict[str, Any]:
    """One file's result as a row of plain values (the parts joined by newlines, "" for none)."""
    counts = (done.rows_in, done.rows_scored, done.bad_rows) if done is not None else (0, 0, 0)
    parts = "\n".join(done.parts) if done is not None else ""
    rejected = (done.rejected or "") if done is not None else ""
    return dict(zip(_RESULT, (position, *counts, parts, rejected, *error), strict=True))


def _load(job: RayScoring) -> LoadedModel:
    """The version from the artifact store by digest, its bytes and types verified, as :meth:`Registry.load`
    loads it."""
    from mlfactory.registry.loaded import LoadedModel
    from mlfactory.registry.packaging import load_model
    from mlfactory.stores.artifacts import open_artifact_store

    store = open_artifact_store(job.artifacts, job.root, job.storage_options)
    version = job.version
    trusted = list(version.signature.trusted_types)
    return LoadedModel(version, load_model(store, version.artifact, trusted, version.ref, version.flavor))


def _remove(fs: pafs.FileSystem, *paths: str) -> None:
    """Delete folders and files if they are there."""
    for path in paths:
        kind = fs.get_file_info(path).type
        if kind == pafs.FileType.Directory:
            fs.delete_dir(path)
        elif kind == pafs.FileType.File:
            fs.delete_file(path)


def score_on_ray(
    compute: RayExecutor,
    job: RayScoring,
    target: str,
    *,
    progress: ProgressCallback | None = None,
) -> ScoreResult:
    """Score ``job.source`` into ``target`` on the Ray of ``compute`` (see the module's docstring); the
    result, the errors and the files written are those of :func:`~mlfactory.project.batch.score_dataset`.

    Args:
        compute: the project's Ray executor (its connection is the one used).
        job: the version, the stores, the input and the settings.
        target: a ``.parquet``/``.csv`` file, or a folder for ``part-NNNNN.parquet`` files (a
            ``job.base``-relative path or a URL).
        progress: called after each file is scored.
    """
    check_settings(job.on_bad_rows, job.batch_rows)
    source = open_place(job.source, job.base, job.storage_options)
    output = open_place(target, job.base, job.storage_options)
    staging = _staging(target)
    try:
        return _score(compute, job, staging, source, output, progress)
    except OSError as exc:  # the disk or the bucket (pyarrow and fsspec raise OSError subclasses)
        raise storage_failure(source, output, exc) from exc
    finally:
        place = open_place(staging, job.base, job.storage_options)
        with contextlib.suppress(OSError):  # a failure that brought us here is the one to report
            _remove(place.fs, place.path)


def _staging(target: str) -> str:
    """A fresh hidden folder for the run's files: inside a folder output, beside a single-file one."""
    name = f".staging-{uuid.uuid4().hex}"
    stem = target.rstrip("/")
    if stem.lower().endswith((".parquet", ".csv")):
        folder, file = posixpath.split(stem)
        return posixpath.join(folder, f".{file}{name}") if folder else f".{file}{name}"
    return posixpath.join(stem, name)


def _score(
    compute: RayExecutor,
    job: RayScoring,
    staging: str,
    source: Place,
    target: Place,
    progress: ProgressCallback | None,
) -> ScoreResult:
    started = time.perf_counter()
    spec = InputSpec(job.version.signature)
    dataset = open_input(source, spec)
    require_columns(spec, dataset.schema.names)  # the input's shape: refused before any work, as locally
    files = input_files(dataset)
    total = sum(f.rows for f in files)
    if total == 0:
        raise ValidationError(no_rows(source))
    check_output(target)
    scores: dict[int, FileScores] = {}
    for position, score in _scored(compute, job, staging, files):
        scores[position] = score
        if progress is not None:
            rows_in, scored, bad = (sum(getattr(s, k) for s in scores.values()) for k in _COUNTS)
            progress(ScoreProgress(rows_in, scored, bad, time.perf_counter() - started, total))
    done = [scores[i] for i in range(len(files))]
    parts, rejected = publish(target, done)
    rows_in, scored, bad = (sum(getattr(s, k) for s in done) for k in _COUNTS)
    seconds = time.perf_counter() - started
    return ScoreResult(job.version.ref, rows_in, scored, bad, target.shown, parts, rejected, seconds)


def _scored(
    compute: RayExecutor, job: RayScoring, staging: str, files: list[InputFile]
) -> Iterator[tuple[int, FileScores]]:
    """Each file's position and scores, as the actors finish them; the first mlfactory error an actor met is
    raised here as it was raised there, anything else of Ray's as a ComputeError."""
    workers = compute.workers  # connects to the executor's Ray (started here for ``compute: ray``)
    items = [{"file": i, "path": f.path, "rows": f.rows, "first": f.first} for i, f in enumerate(files)]
    settings = (job, staging, items, workers, compute.max_retries)
    rows = _on_cluster(*settings) if compute.url.startswith("ray://") else _pipeline(*settings)
    failures: dict[int, MLFactoryError] = {}
    for row in rows:
        position = int(row["file"])
        if row["error"]:
            failures[position] = _raised(str(row["error"]), str(row["message"]), str(row["reasons"]))
        elif not failures:
            yield position, _scores(row)
    if failures:  # every actor is done: nothing writes into the staging folder any more
        raise failures[min(failures)]


def _pipeline(
    job: RayScoring, staging: str, items: list[dict[str, Any]], workers: int, retries: int
) -> Iterator[dict[str, Any]]:
    """The files scored by the pool of actors: each file's result row as it is finished. Once a file
    failed, the actors are told to skip the files after it."""
    import ray.data
    from ray.util.annotations import RayDeprecationWarning

    with warnings.catch_warnings():
        # Ray 2.60 takes an actor's retries only as "ray_remote_args", which it warns it will drop in 2.64;
        # its own default (unbounded) would retry a file that kills every worker for ever
        warnings.simplefilter("ignore", RayDeprecationWarning)
        scored = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
            FileScorer,
            fn_constructor_kwargs={"job": _lean(job), "staging": staging},
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=min(workers, len(items))),
            num_cpus=1,
            max_restarts=retries,  # a dead worker's actor is started again,
            max_task_retries=retries,  # and its file scored again
        )
    place = open_place(staging, job.base, job.storage_options)
    failed: list[int] = []
    for row in _rows(scored):
        if row["error"]:
            failed.append(int(row["file"]))
            _stop_after(place, min(failed))
        yield row


def _collected(
    job: RayScoring, staging: str, items: list[dict[str, Any]], workers: int, retries: int
) -> list[dict[str, Any]]:
    """Every file's result row (a task on the cluster: see :func:`_on_cluster`)."""
    return list(_pipeline(job, staging, items, workers, retries))


def _on_cluster(
    job: RayScoring, staging: str, items: list[dict[str, Any]], workers: int, retries: int
) -> list[dict[str, Any]]:
    """The rows of :func:`_pipeline` run on a ``ray://`` cluster: Ray Data cannot drive a pipeline from a
    client (its executor needs a worker of the cluster), so a task on the cluster drives it, with no CPU of
    its own (the actors get them all), and its rows come back once every file is done. A mlfactory error
    raised there is raised here as it is."""
    import ray

    task = ray.remote(num_cpus=0, max_retries=0)(_collected)
    try:
        rows: list[dict[str, Any]] = ray.get(task.remote(job, staging, items, workers, retries))
    except Exception as exc:  # the driving task's error, or Ray's own
        cause = getattr(exc, "cause", None)
        if isinstance(cause, MLFactoryError):
            raise cause from None
        raise _ray_failure(exc) from exc
    return rows


def _rows(scored: Any) -> Iterator[dict[str, Any]]:
    """The rows of a Ray dataset as it runs, Ray's errors (many kinds; each means the job did not finish)
    as a ComputeError."""
    rows = iter(scored.iter_rows())
    while True:
        try:
            row = next(rows, None)
        except Exception as exc:
            raise _ray_failure(exc) from exc
        if row is None:
            return
        yield row


def _ray_failure(exc: Exception) -> ComputeError:
    """A worker that died past its retries, or another failure of Ray's, as a ComputeError."""
    if worker_death(exc):
        return worker_died(FileScorer, _WHERE, f"{type(exc).__name__}, after the retries Ray was given")
    return task_failed(FileScorer, _WHERE, exc)


_WHERE = "scoring the input on Ray"


def _stop_after(staging: Place, position: int) -> None:
    """Tell the actors a file failed: they skip the files after it (a whole-input run would not reach them)
    and still score the ones before it, which may hold the input's first failure."""
    if staging.local:
        os.makedirs(staging.path, exist_ok=True)
    marker = posixpath.join(staging.path, _STOP)
    with staging.fs.open_output_stream(marker + ".tmp") as out:
        out.write(str(position).encode())
    staging.fs.move(marker + ".tmp", marker)  # read whole or not at all


def _stopped_before(staging: Place, position: int) -> bool:
    """Whether a file before ``position`` failed, so scoring it is wasted."""
    try:
        with staging.fs.open_input_stream(posixpath.join(staging.path, _STOP)) as marker:
            return position > int(marker.read())
    except FileNotFoundError:
        return False


def _lean(job: RayScoring) -> RayScoring:
    """The job without what scoring never reads of the version (its data profile and model card, most of
    its size), so each actor is sent little."""
    return replace(job, version=replace(job.version, profile={}, card=""))


def _raised(kind: str, message: str, reasons: str) -> MLFactoryError:
    """The mlfactory error an actor met, made again here."""
    cls = getattr(errors, kind, MLFactoryError)
    if issubclass(cls, ValidationError):
        return cls(message, reasons.split("\n") if reasons else [])
    error: MLFactoryError = cls(message)
    return error


def _scores(row: dict[str, Any]) -> FileScores:
    parts = tuple(p for p in str(row["parts"]).split("\n") if p)
    rejected = str(row["rejected"]) or None
    return FileScores(int(row["rows_in"]), int(row["rows_scored"]), int(row["bad_rows"]), parts, rejected)
