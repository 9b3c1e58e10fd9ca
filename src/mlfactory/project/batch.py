"""Batch scoring that streams: a file, a folder or a partitioned dataset scored in record batches.

The input (Parquet or CSV: one file, a folder of part files, or a hive-partitioned folder; a local path or an
object-storage URL) is read with ``pyarrow.dataset`` a batch at a time, so memory stays flat however large it
is. Each batch gets the model's point-in-time features (for a feature-service model), is checked row by row
with the server's checks, and its good rows are scored and written: a folder of ``part-NNNNN.parquet`` files,
or one ``.parquet``/``.csv`` file when the output ends so. Every file appears whole or not at all (a temporary
name then a rename on a disk, one whole-object put on an object store).

A row failing its input check stops the run (``fail``), is dropped and counted (``skip``), or is also
written with its reason to ``<output stem>.rejected.parquet`` beside the output (``report``); either way it
is named by its row number in the whole input (counted from 0) and the file it came from.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from mlfactory.errors import ConflictError, MLFactoryError, NotFoundError, StorageError, ValidationError
from mlfactory.inputs import NUMERIC, Batch, InputSpec, Payload, frame_payload, take_payload

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory.registry.loaded import LoadedModel
    from mlfactory.stores.fs import StorageLocation

OnBadRows = Literal["fail", "skip", "report"]
ON_BAD_ROWS: tuple[OnBadRows, ...] = ("fail", "skip", "report")
DEFAULT_BATCH_ROWS = 65_536  # ~ tens of MB for typical tables: big enough that per-batch costs vanish
_SUFFIXES = (".parquet", ".csv")
_TYPES = {"integer": pa.int64(), "boolean": pa.bool_(), "number": pa.float64()}

_PARQUET_SCAN = ds.ParquetFragmentScanOptions(pre_buffer=False)

Enrich = Callable[["pd.DataFrame"], "pd.DataFrame"]


@dataclass(frozen=True)
class ScoreProgress:
    """How far a scoring run is, given to the progress callback after each batch."""

    rows_in: int
    rows_scored: int
    bad_rows: int
    seconds: float
    total_rows: int | None  # known up front for Parquet (from the files' footers), not for CSV

    @property
    def rows_per_second(self) -> float:
        return self.rows_in / self.seconds if self.seconds > 0 else 0.0


ProgressCallback = Callable[[ScoreProgress], None]


@dataclass(frozen=True)
class ScoreResult:
    """What a scoring run did: rows read, scored and refused, and the files it wrote."""

    model: str
    rows_in: int
    rows_scored: int
    bad_rows: int
    output: str
    parts: tuple[str, ...]
    rejected: str | None  # the side file of refused rows and their reasons (``report`` only, when any)
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """The summary `predict_file` returns: ``model``, ``rows`` (scored), ``output`` and the rest."""
        return {
            "model": self.model,
            "rows": self.rows_scored,
            "output": self.output,
            "rows_in": self.rows_in,
            "bad_rows": self.bad_rows,
            "parts": list(self.parts),
            "rejected": self.rejected,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class Place:
    """A file or folder: a pyarrow filesystem, the path in it, and how to name it in messages."""

    fs: pafs.FileSystem
    path: str
    shown: str
    location: StorageLocation | None = None  # object stores: whole-object puts go through it

    @property
    def local(self) -> bool:
        return self.location is None

    def beside(self, name: str) -> Place:
        """A sibling or child path on the same filesystem."""
        return Place(self.fs, name, _shown(self, name), self.location)


def _shown(place: Place, path: str) -> str:
    """A path on ``place``'s filesystem as users wrote it: a local path, or a URL without secrets."""
    return path if place.location is None else place.location.describe(path)


def open_place(where: str | Path, base: Path, storage_options: Mapping[str, Any] | None = None) -> Place:
    """A local path (relative ones under ``base``) or an object-storage URL as a :class:`Place`."""
    text = str(where)
    if "://" not in text or text.startswith("file://"):
        path = Path(text.removeprefix("file://"))
        path = path if path.is_absolute() else base / path
        return Place(pafs.LocalFileSystem(), str(path), str(path))
    from mlfactory.stores.fs import open_location  # fsspec and its cloud packages: only URLs need them

    location = open_location(text, base, storage_options)
    handler = pafs.PyFileSystem(pafs.FSSpecHandler(location.fs))
    return Place(handler, location.root.rstrip("/"), location.describe(), location)


@dataclass
class _Chunk:
    """Rows of one input file, scored together: where they start in the file and in the whole input."""

    table: pa.Table
    file: str
    first: int
    first_in_file: int


# -- input -------------------------------------------------------------------------------------------------


def _input_files(place: Place) -> tuple[list[str], str]:
    """The data files under a folder (hidden and ``_``-prefixed names skipped, as Spark and pyarrow do)
    and their one format."""
    selector = pafs.FileSelector(place.path, recursive=True)
    files = []
    for info in place.fs.get_file_info(selector):
        rel = posixpath.relpath(info.path, place.path)
        if info.type != pafs.FileType.File or any(p.startswith((".", "_")) for p in rel.split("/")):
            continue
        files.append(info.path)
    kinds = {posixpath.splitext(f)[1].lower() for f in files} & set(_SUFFIXES)
    if not kinds:
        raise ValidationError(f"input folder {place.shown} holds no .parquet or .csv files")
    if len(kinds) > 1:
        raise ValidationError(f"input folder {place.shown} mixes Parquet and CSV files; keep one format")
    suffix = kinds.pop()
    return sorted(f for f in files if f.lower().endswith(suffix)), suffix


def open_input(place: Place, spec: InputSpec) -> ds.Dataset:
    """The input as a dataset. CSV reads the model's input columns as text, so a bad value is a bad row
    (reported by the checks) rather than a failed read; a folder's ``key=value`` levels become columns."""
    info = place.fs.get_file_info(place.path)
    if info.type == pafs.FileType.NotFound:
        raise NotFoundError(f"input {place.shown} does not exist")
    if info.type == pafs.FileType.Directory:
        files, suffix = _input_files(place)
        source: str | list[str] = files
    else:
        suffix = posixpath.splitext(place.path)[1].lower()
        if suffix not in _SUFFIXES:
            raise ValidationError(f"input file {place.shown} must end in .parquet or .csv (or be a folder)")
        source = place.path
    fmt: ds.FileFormat = ds.ParquetFileFormat()
    if suffix == ".csv":
        text = {n: pa.string() for n, k in zip(spec.names, spec.kinds, strict=True) if k != "datetime"}
        # an empty field is a missing value, as pandas reads it (and as the server's checks count it)
        convert = pacsv.ConvertOptions(column_types=text, strings_can_be_null=True)
        fmt = ds.CsvFileFormat(convert_options=convert)
    base = place.path if isinstance(source, list) else None
    try:
        return ds.dataset(
            source, filesystem=place.fs, format=fmt, partitioning="hive", partition_base_dir=base
        )
    except (pa.ArrowInvalid, OSError) as exc:
        raise ValidationError(f"cannot read {place.shown}: {exc}") from None


def _batches(dataset: ds.Dataset, batch_rows: int) -> Iterator[tuple[str, pa.RecordBatch]]:
    """Every record batch of the input with the file it came from, one Parquet row group at a time.

    The dataset's own scanner reads row groups ahead of the consumer (threaded read-ahead, Parquet
    pre-buffering), so its memory grows with the file: measured +100 MB from 200k to 800k rows of 23 numbers
    even with read-ahead turned down. A row group's fragment scanned alone, on one thread, keeps it to one.
    """
    parquet = isinstance(dataset.format, ds.ParquetFileFormat)
    for fragment in dataset.get_fragments():
        pieces = fragment.split_by_row_group() if parquet else [fragment]
        for piece in pieces:
            for batch in piece.to_batches(
                schema=dataset.schema,  # the partition columns, and one schema across the files
                batch_size=batch_rows,
                batch_readahead=0,
                fragment_readahead=0,
                use_threads=False,
                fragment_scan_options=_PARQUET_SCAN if parquet else None,
            ):
                yield fragment.path, batch


def _chunks(dataset: ds.Dataset, batch_rows: int, shown: Callable[[str], str]) -> Iterator[_Chunk]:
    """The input in chunks of about ``batch_rows`` rows, each from one file, in the input's order."""
    pending: list[pa.RecordBatch] = []
    file, first, first_in_file, rows = "", 0, 0, 0
    try:
        for path, batch in _batches(dataset, batch_rows):
            if pending and (path != file or rows + batch.num_rows > batch_rows):
                yield _Chunk(pa.Table.from_batches(pending), shown(file), first, first_in_file)
                first, first_in_file = first + rows, (first_in_file + rows if path == file else 0)
                pending, rows = [], 0
            if path != file:
                file, first_in_file = path, 0
            if batch.num_rows:
                pending.append(batch)
                rows += batch.num_rows
    except pa.ArrowInvalid as exc:
        raise ValidationError(f"cannot read the input at {shown(file) or 'its start'}: {exc}") from None
    if pending:
        yield _Chunk(pa.Table.from_batches(pending), shown(file), first, first_in_file)


# -- checking and scoring ----------------------------------------------------------------------------------

_ROW_0 = re.compile(r"^row 0: | row 0(?=:)")


def _reason(exc: ValidationError) -> str:
    """A one-row check's reasons, without the "row 0" that only counts within the one-row slice."""
    return "; ".join(_ROW_0.sub("", r) for r in (exc.reasons or [str(exc)]))


def _bad_rows(spec: InputSpec, payload: Payload, index: np.ndarray) -> list[tuple[int, str]]:
    """The rows at ``index`` that fail the checks, with their reasons, found by halving: a batch with a
    few bad rows costs a few extra checks of ever smaller slices, not one check per row."""
    try:
        spec.check(take_payload(payload, index))
        return []
    except ValidationError as exc:
        if len(index) == 1:
            return [(int(index[0]), _reason(exc))]
    mid = len(index) // 2
    return _bad_rows(spec, payload, index[:mid]) + _bad_rows(spec, payload, index[mid:])


def _require_columns(spec: InputSpec, columns: Any) -> None:
    missing = [c for c in spec.names if c not in columns]
    if missing:  # the input's shape, not one row: no mode scores around it
        raise ValidationError(
            f"missing input column(s) {missing}; the model takes {spec.names}",
            [f"missing column '{m}'" for m in missing],
        )


def check_rows(
    spec: InputSpec, frame: pd.DataFrame
) -> tuple[Batch | None, np.ndarray, list[tuple[int, str]]]:
    """The frame's good rows checked (None when there are none), their positions, and the bad rows'
    positions and reasons."""
    _require_columns(spec, frame.columns)
    payload = frame_payload(frame, spec)
    everything = np.arange(len(frame))
    try:
        return spec.check(payload), everything, []
    except ValidationError:
        bad = _bad_rows(spec, payload, everything)
    good = np.setdiff1d(everything, np.array([i for i, _ in bad], dtype=np.intp))
    return (spec.check(take_payload(payload, good)) if len(good) else None), good, bad


def _predictions(model: LoadedModel, batch: Batch) -> dict[str, Any]:
    """The columns :meth:`LoadedModel.predict_frame` adds, for checked rows."""
    x = batch.frame()
    columns: dict[str, Any] = {"prediction": model.estimator.predict(x)}
    classes = model.classes
    if hasattr(model.estimator, "predict_proba") and classes is not None:
        proba = model.estimator.predict_proba(x)
        for i, cls in enumerate(classes):
            columns[f"proba_{cls}"] = proba[:, i]
    columns["model_version"] = pa.repeat(model.version.ref, batch.n)
    return columns


def _scored_table(
    table: pa.Table, spec: InputSpec, batch: Batch, texts: list[str], model: LoadedModel
) -> pa.Table:
    """The good rows as read plus the predictions; number columns CSV held as text carry the checked
    numbers (typed by the model's signature), so every output part has the same schema."""
    for name in texts:
        kind = spec.kinds[spec.names.index(name)]
        values = batch.columns[name]
        typed = pa.array(values, mask=np.isnan(values)).cast(_TYPES.get(kind, pa.float64()))
        table = table.set_column(table.schema.get_field_index(name), name, typed)
    for name, values in _predictions(model, batch).items():
        column = values if isinstance(values, pa.Array) else pa.array(values)
        if name in table.column_names:
            table = table.drop_columns([name])
        table = table.append_column(name, column)
    return table


# -- output ------------------------------------------------------------------------------------------------


class _TableFile:
    """One table written as it comes (Parquet or CSV by suffix), made visible whole at :meth:`commit`: the
    rows go to a temporary file (beside the target on a disk, so the commit is a rename; in the temporary
    folder for an object store, so the commit is one whole-object put)."""

    def __init__(self, place: Place) -> None:
        self.place = place
        self.csv = place.path.lower().endswith(".csv")
        folder = posixpath.dirname(place.path) if place.local else None
        if folder:
            os.makedirs(folder, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".csv" if self.csv else ".parquet")
        os.close(fd)
        self.writer: pq.ParquetWriter | pacsv.CSVWriter | None = None
        self.schema: pa.Schema | None = None
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if self.csv:  # CSV has no dictionary type: partition columns are written as their values
            table = pa.table({n: _plain(c) for n, c in zip(table.column_names, table.columns, strict=True)})
        if self.writer is None:
            self.schema = table.schema
            self.writer = (
                pacsv.CSVWriter(self.tmp, self.schema)
                if self.csv
                else pq.ParquetWriter(self.tmp, self.schema)
            )
        elif table.schema != self.schema:  # e.g. a column all null in one batch: one schema per file
            table = table.cast(self.schema)
        self.writer.write_table(table)
        self.rows += table.num_rows

    def commit(self) -> bool:
        """Publish the file; False (and nothing published) when no row was written."""
        if self.writer is None:
            self.discard()
            return False
        self.writer.close()
        if self.place.location is None:
            with open(self.tmp, "rb+") as f:  # on disk before the rename, so a crash cannot publish less
                os.fsync(f.fileno())
            os.replace(self.tmp, self.place.path)
        else:
            from mlfactory.stores.fs import put_atomic

            with open(self.tmp, "rb") as f:
                put_atomic(self.place.location, self.place.path, f)
            os.unlink(self.tmp)
        return True

    def discard(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if os.path.exists(self.tmp):
            os.unlink(self.tmp)


def _plain(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return column.cast(column.type.value_type) if pa.types.is_dictionary(column.type) else column


@dataclass
class _Output:
    """Where scored rows go: one file, or a folder of parts (one per scored batch)."""

    place: Place
    single: _TableFile | None = None
    parts: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, place: Place) -> _Output:
        if place.path.lower().endswith(_SUFFIXES):
            return cls(place, _TableFile(place))
        info = place.fs.get_file_info(place.path)
        if info.type == pafs.FileType.File:
            raise ValidationError(
                f"output {place.shown} is a file; end it in .parquet or .csv, or name a folder"
            )
        if info.type == pafs.FileType.Directory:
            held = place.fs.get_file_info(pafs.FileSelector(place.path))
            if any(posixpath.basename(i.path).startswith("part-") for i in held):
                raise ConflictError(
                    f"output folder {place.shown} already holds part files; remove them or choose another "
                    "output"
                )
        return cls(place)

    def write(self, table: pa.Table) -> None:
        if self.single is not None:
            self.single.write(table)
            return
        part = self.place.beside(posixpath.join(self.place.path, f"part-{len(self.parts):05d}.parquet"))
        writer = _TableFile(part)
        try:
            writer.write(table)
            writer.commit()
        except BaseException:
            writer.discard()
            raise
        self.parts.append(part.path)

    def commit(self) -> tuple[str, ...]:
        """Publish the output; the files written. With no row scored, an earlier run's single file is
        removed, so the output never shows rows this run did not score."""
        if self.single is None:
            return tuple(self.parts)
        if self.single.commit():
            return (self.place.path,)
        if self.place.fs.get_file_info(self.place.path).type == pafs.FileType.File:
            self.place.fs.delete_file(self.place.path)
        return ()

    def discard(self) -> None:
        """Take back what a failed run wrote."""
        if self.single is not None:
            self.single.discard()
        for path in self.parts:
            self.place.fs.delete_file(path)


def rejected_path(output: str) -> str:
    """Where ``report`` writes refused rows: ``<output without .parquet/.csv>.rejected.parquet`` beside it."""
    stem = output.rstrip("/")
    for suffix in _SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    return stem + ".rejected.parquet"


class _Rejects:
    """The refused rows of a ``report`` run, written as they come, with their positions and reasons."""

    def __init__(self, output: Place) -> None:
        self.place = output.beside(rejected_path(output.path))
        self.file: _TableFile | None = None

    def write(self, chunk: _Chunk, bad: list[tuple[int, str]]) -> None:
        index = np.array([i for i, _ in bad], dtype=np.intp)
        rows = chunk.table.take(pa.array(index))
        rows = rows.append_column("_row", pa.array(index + chunk.first, pa.int64()))
        rows = rows.append_column("_file", pa.repeat(chunk.file, len(bad)))
        rows = rows.append_column("_row_in_file", pa.array(index + chunk.first_in_file, pa.int64()))
        rows = rows.append_column("_reason", pa.array([r for _, r in bad], pa.string()))
        if self.file is None:
            self.file = _TableFile(self.place)
        self.file.write(rows)

    def commit(self) -> str | None:
        """Publish the side file; with no refused rows, remove an earlier run's so it cannot mislead."""
        if self.file is not None and self.file.commit():
            return self.place.shown
        if self.place.fs.get_file_info(self.place.path).type == pafs.FileType.File:
            self.place.fs.delete_file(self.place.path)
        return None

    def discard(self) -> None:
        if self.file is not None:
            self.file.discard()


def _held_as_text(spec: InputSpec, schema: pa.Schema, name: str) -> bool:
    kind = spec.kinds[spec.names.index(name)]
    return kind in NUMERIC and name in schema.names and pa.types.is_string(schema.field(name).type)


# -- the run -----------------------------------------------------------------------------------------------


@dataclass
class _Run:
    model: LoadedModel
    enrich: Enrich
    on_bad_rows: OnBadRows
    texts: list[str]
    out: _Output
    rejects: _Rejects
    rows_in: int = 0
    rows_scored: int = 0
    bad_rows: int = 0

    def score(self, chunk: _Chunk) -> None:
        spec = self.model.spec
        frame = chunk.table.to_pandas()
        batch, good, bad = check_rows(spec, self.enrich(frame))
        self.rows_in += chunk.table.num_rows
        if bad:
            self.bad_rows += len(bad)
            if self.on_bad_rows == "fail":
                i, why = bad[0]
                where = f"{chunk.file}, row {chunk.first_in_file + i}"
                raise ValidationError(
                    f"row {chunk.first + i} of the input ({where}): {why}; score the other rows with "
                    "--on-bad-rows skip or report",
                    [why],
                )
            if self.on_bad_rows == "report":
                self.rejects.write(chunk, bad)
        if batch is None:
            return
        rows = chunk.table if not bad else chunk.table.take(pa.array(good))
        self.out.write(_scored_table(rows, spec, batch, self.texts, self.model))
        self.rows_scored += batch.n


def score_dataset(
    model: LoadedModel,
    source: Place,
    target: Place,
    *,
    enrich: Enrich | None = None,
    on_bad_rows: OnBadRows = "report",
    batch_rows: int = DEFAULT_BATCH_ROWS,
    progress: ProgressCallback | None = None,
) -> ScoreResult:
    """Score ``source`` with ``model`` into ``target`` a batch at a time (see the module's docstring).

    Args:
        model: the loaded version.
        source: a Parquet or CSV file, a folder of them, or a hive-partitioned folder.
        target: a ``.parquet``/``.csv`` file, or a folder for ``part-NNNNN.parquet`` files.
        enrich: per batch, the rows with the model's point-in-time features joined (feature-service models).
        on_bad_rows: ``fail``, ``skip`` or ``report`` a row that fails its input check.
        batch_rows: rows scored together; memory grows with this, not with the input.
        progress: called after each batch.
    """
    if on_bad_rows not in ON_BAD_ROWS:
        raise ValidationError(f"on_bad_rows must be one of {', '.join(ON_BAD_ROWS)}, got {on_bad_rows!r}")
    if batch_rows < 1:
        raise ValidationError(f"batch_rows must be at least 1, got {batch_rows}")
    try:
        return _score(model, source, target, _Settings(enrich or _as_is, on_bad_rows, batch_rows, progress))
    except OSError as exc:  # the disk or the bucket (pyarrow and fsspec raise OSError subclasses)
        raise _storage_failure(source, target, exc) from exc


def _as_is(frame: pd.DataFrame) -> pd.DataFrame:
    return frame


@dataclass(frozen=True)
class _Settings:
    enrich: Enrich
    on_bad_rows: OnBadRows
    batch_rows: int
    progress: ProgressCallback | None


def _storage_failure(source: Place, target: Place, exc: OSError) -> MLFactoryError:
    """A storage failure named by URL (no secrets) with its fix, or a local file's failure by path."""
    for place in (source, target):
        if place.location is not None:
            from mlfactory.stores.fs import storage_error

            return storage_error(place.location, exc)
    return StorageError(f"scoring {source.shown} into {target.shown} failed: {exc}")


def _score(model: LoadedModel, source: Place, target: Place, settings: _Settings) -> ScoreResult:
    spec = model.spec
    dataset = open_input(source, spec)
    csv = isinstance(dataset.format, ds.CsvFileFormat)
    texts = [n for n in spec.names if csv and _held_as_text(spec, dataset.schema, n)]
    total = dataset.count_rows() if settings.progress is not None and not csv else None
    output, rejects = _Output.open(target), _Rejects(target)
    run = _Run(model, settings.enrich, settings.on_bad_rows, texts, output, rejects)
    started = time.perf_counter()
    try:
        for chunk in _chunks(dataset, settings.batch_rows, lambda p: _shown(source, p)):
            run.score(chunk)
            if settings.progress is not None:
                elapsed = time.perf_counter() - started
                settings.progress(ScoreProgress(run.rows_in, run.rows_scored, run.bad_rows, elapsed, total))
        if run.rows_in == 0:
            raise ValidationError(f"input {source.shown} holds no rows to score")
        parts = run.out.commit()
        rejected = run.rejects.commit()
    except BaseException:
        for undo in (run.out.discard, run.rejects.discard):
            with contextlib.suppress(OSError):  # the failure that brought us here is the one to report
                undo()
        raise
    return ScoreResult(
        model.version.ref,
        run.rows_in,
        run.rows_scored,
        run.bad_rows,
        target.shown,
        tuple(_shown(target, p) for p in parts),
        rejected,
        time.perf_counter() - started,
    )
