"""Batch scoring that streams: a file, a folder or a partitioned dataset scored in record batches.

The input (Parquet or CSV: one file, a folder of part files, or a hive-partitioned folder; a local path or an
object-storage URL) is read with ``pyarrow.dataset`` a batch at a time, so memory stays flat however large it
is. Each batch gets the model's point-in-time features (for a feature-service model), is checked row by row
with the server's checks, and its good rows are scored and written: a folder of ``part-NNNNN.parquet`` files,
or one ``.parquet``/``.csv`` file when the output ends so. Every file appears whole or not at all (a temporary
name then a rename on a disk, one whole-object put on an object store).

A CSV file's date-time columns (the model's, and a feature-service model's timestamp column) are read as
text and parsed per chunk as ISO 8601: a time with an offset is converted to UTC, a time without one is taken
as UTC (as the server's checks take it), an empty field is a missing value, and any other text is a bad row.

A row failing its input check stops the run (``fail``), is dropped and counted (``skip``), or is also
written with its reason to ``<output stem>.rejected.parquet`` beside the output (``report``); either way it
is named by its row number in the whole input (counted from 0) and the file it came from.

On Ray (:mod:`mlfactory.project.batch_ray`) each file is scored apart with :func:`score_file`, in the chunks
and with the row numbers of a whole-input run, and :func:`publish` gathers the pieces into the same output.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import tempfile
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
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
from mlfactory.estimators.predicting import predict_rows
from mlfactory.inputs import NUMERIC, Batch, InputSpec, Payload, frame_payload, take_payload
from mlfactory.inputs.values import show

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


def open_input(place: Place, spec: InputSpec, dates: Collection[str] = ()) -> ds.Dataset:
    """The input as a dataset. CSV reads the model's input columns and ``dates`` (more date-time columns, such
    as the timestamp a point-in-time join reads) as text, so a bad value is a bad row (reported by the checks
    or by :func:`_parse_dates`) rather than a failed read; a folder's ``key=value`` levels become columns."""
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
        text = dict.fromkeys([*spec.names, *dates], pa.string())
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


def _batches(
    dataset: ds.Dataset, batch_rows: int, files: Collection[str] | None
) -> Iterator[tuple[str, pa.RecordBatch]]:
    """Every record batch of the input (of ``files`` only, when given) with the file it came from, one
    Parquet row group at a time.

    The dataset's own scanner reads row groups ahead of the consumer (threaded read-ahead, Parquet
    pre-buffering), so its memory grows with the file: measured +100 MB from 200k to 800k rows of 23 numbers
    even with read-ahead turned down. A row group's fragment scanned alone, on one thread, keeps it to one.
    """
    parquet = isinstance(dataset.format, ds.ParquetFileFormat)
    for fragment in dataset.get_fragments():
        if files is not None and fragment.path not in files:
            continue
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


def _chunks(
    dataset: ds.Dataset,
    batch_rows: int,
    shown: Callable[[str], str],
    files: Collection[str] | None = None,
    first: int = 0,
) -> Iterator[_Chunk]:
    """The input (``files`` of it, the first at row ``first`` of the whole input) in chunks of about
    ``batch_rows`` rows, each from one file, in the input's order. A file's chunks are the same whether it
    is read alone or with the others."""
    pending: list[pa.RecordBatch] = []
    file, first_in_file, rows = "", 0, 0
    try:
        for path, batch in _batches(dataset, batch_rows, files):
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


def _parse_dates(table: pa.Table, dates: Mapping[str, bool]) -> tuple[pa.Table, list[tuple[int, str]]]:
    """The date-time columns ``dates`` (CSV text) parsed as ISO 8601 into UTC timestamps, and the rows whose
    text is no date-time, with their reasons. Each value is parsed on its own, so one row's format (an offset,
    a date without a time) never decides another's; an offset is converted to UTC and a time without one is
    taken as UTC, as the server's checks take it. An empty field stays missing (for the model's declared
    rules to judge), unless its column maps to True: a join's timestamp, which no row can go without."""
    import pandas as pd  # the chunk becomes a frame for the checks anyway

    reasons: dict[int, list[str]] = {}
    for name, required in dates.items():
        text = table.column(name).to_pandas()
        parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
        given = text.notna().to_numpy()
        for i in np.flatnonzero(parsed.isna().to_numpy() & (given | required)):
            reasons.setdefault(int(i), []).append(
                f"column '{name}' (datetime): {show(text.iloc[i])} is not a date-time; send ISO 8601 "
                "(such as 2024-05-01T12:00:00Z)"
                if given[i]
                else f"column '{name}' (datetime) is empty; the features are joined at this time, so give one"
            )
        stamps = pa.array(parsed).cast(pa.timestamp("us", tz="UTC"), safe=False)
        table = table.set_column(table.schema.get_field_index(name), name, stamps)
    return table, sorted((i, "; ".join(why)) for i, why in reasons.items())


def require_columns(spec: InputSpec, columns: Any) -> None:
    """ValidationError naming the model's input columns that ``columns`` lacks."""
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
    require_columns(spec, frame.columns)
    payload = frame_payload(frame, spec)
    everything = np.arange(len(frame))
    try:
        return spec.check(payload), everything, []
    except ValidationError:
        bad = _bad_rows(spec, payload, everything)
    good = np.setdiff1d(everything, np.array([i for i, _ in bad], dtype=np.intp))
    return (spec.check(take_payload(payload, good)) if len(good) else None), good, bad


def _predictions(model: LoadedModel, batch: Batch) -> dict[str, Any]:
    """The columns :meth:`LoadedModel.predict_frame` adds, for checked rows (transformed once for both
    answers, as :func:`predict_rows` does for the loaded model and the server)."""
    classes = model.classes
    pred, proba = predict_rows(model.estimator, batch.frame(), proba=classes is not None)
    columns: dict[str, Any] = {"prediction": pred}
    if proba is not None and classes is not None:
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

    def _next_part(self) -> Place:
        return self.place.beside(posixpath.join(self.place.path, f"part-{len(self.parts):05d}.parquet"))

    def write(self, table: pa.Table) -> None:
        if self.single is not None:
            self.single.write(table)
            return
        part = self._next_part()
        writer = _TableFile(part)
        try:
            writer.write(table)
            writer.commit()
        except BaseException:
            writer.discard()
            raise
        self.parts.append(part.path)

    def adopt(self, staged: str) -> None:
        """Take a Parquet file another process wrote whole (on the same filesystem) as the next part: renamed
        into the folder (a whole-object copy on an object store), or appended to the single file."""
        if self.single is not None:
            self.single.write(pq.read_table(staged, filesystem=self.place.fs))
            return
        part = self._next_part()
        self.place.fs.move(staged, part.path)
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
        self._add(rows)

    def adopt(self, staged: str) -> None:
        """Append the refused rows another process wrote to a Parquet file on the same filesystem."""
        self._add(pq.read_table(staged, filesystem=self.place.fs))

    def _add(self, rows: pa.Table) -> None:
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


def _texts(dataset: ds.Dataset, spec: InputSpec) -> list[str]:
    """The model's number columns a CSV input holds as text (written out as the checked numbers)."""
    csv = isinstance(dataset.format, ds.CsvFileFormat)
    return [n for n in spec.names if csv and _held_as_text(spec, dataset.schema, n)]


def _dates(dataset: ds.Dataset, spec: InputSpec, joined: Collection[str]) -> dict[str, bool]:
    """The date-time columns a CSV input holds as text (the model's, and the ``joined`` timestamps a
    point-in-time join reads), parsed per chunk; each mapped to whether a row must have one."""
    if not isinstance(dataset.format, ds.CsvFileFormat):
        return {}
    wanted = {n: False for n, k in zip(spec.names, spec.kinds, strict=True) if k == "datetime"}
    wanted |= dict.fromkeys(joined, True)
    schema = dataset.schema
    return {n: r for n, r in wanted.items() if n in schema.names and pa.types.is_string(schema.field(n).type)}


@dataclass(frozen=True)
class InputFile:
    """One file of the input, its rows and where they start in the whole input."""

    path: str
    rows: int
    first: int


def input_files(dataset: ds.Dataset) -> list[InputFile]:
    """The input's files in its order with their row counts (from the footers for Parquet; a CSV file is
    read to count)."""
    files, first = [], 0
    try:
        for fragment in dataset.get_fragments():
            rows = fragment.count_rows()
            files.append(InputFile(fragment.path, rows, first))
            first += rows
    except pa.ArrowInvalid as exc:
        raise ValidationError(f"cannot read the input: {exc}") from None
    return files


# -- the run -----------------------------------------------------------------------------------------------


@dataclass
class _Run:
    model: LoadedModel
    enrich: Enrich
    on_bad_rows: OnBadRows
    texts: list[str]
    out: _Output
    rejects: _Rejects
    dates: dict[str, bool] = field(default_factory=dict)
    rows_in: int = 0
    rows_scored: int = 0
    bad_rows: int = 0

    def _check(self, chunk: _Chunk) -> tuple[pa.Table, Batch | None, np.ndarray, list[tuple[int, str]]]:
        """The chunk with its dates parsed, its good rows checked, their positions, and the bad rows with
        their reasons. Rows with a bad date go no further: neither the join nor the checks see them."""
        table, undated = _parse_dates(chunk.table, self.dates) if self.dates else (chunk.table, [])
        if not undated:
            return table, *check_rows(self.model.spec, self.enrich(table.to_pandas()))
        keep = np.setdiff1d(np.arange(table.num_rows), np.array([i for i, _ in undated], dtype=np.intp))
        if not len(keep):
            return table, None, keep, undated
        batch, good, bad = check_rows(self.model.spec, self.enrich(table.take(pa.array(keep)).to_pandas()))
        return table, batch, keep[good], sorted(undated + [(int(keep[i]), why) for i, why in bad])

    def score(self, chunk: _Chunk) -> None:
        spec = self.model.spec
        table, batch, good, bad = self._check(chunk)
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
        rows = table if not bad else table.take(pa.array(good))
        self.out.write(_scored_table(rows, spec, batch, self.texts, self.model))
        self.rows_scored += batch.n


def _drain(
    run: _Run, chunks: Iterator[_Chunk], after: Callable[[], None], empty: str | None
) -> tuple[tuple[str, ...], str | None]:
    """Score every chunk (calling ``after`` after each) and publish the output and the refused rows; on any
    failure take back what was written. ``empty``: the error when no row was read (None: no rows is fine)."""
    try:
        for chunk in chunks:
            run.score(chunk)
            after()
        if run.rows_in == 0 and empty is not None:
            raise ValidationError(empty)
        return run.out.commit(), run.rejects.commit()
    except BaseException:
        for undo in (run.out.discard, run.rejects.discard):
            with contextlib.suppress(OSError):  # the failure that brought us here is the one to report
                undo()
        raise


@dataclass(frozen=True)
class FileScores:
    """What scoring some files of the input did: rows read, scored and refused, the part files written and
    the side file of refused rows (``report`` only, when any), as paths on the target's filesystem."""

    rows_in: int
    rows_scored: int
    bad_rows: int
    parts: tuple[str, ...]
    rejected: str | None


def score_file(
    model: LoadedModel, source: Place, file: InputFile, target: Place, on_bad_rows: OnBadRows, batch_rows: int
) -> FileScores:
    """Score one file of ``source`` into the folder ``target`` in the chunks a whole-input run would score
    it in, its rows named by their place in the whole input: a share of a run spread over workers."""
    dataset = open_input(source, model.spec)
    texts, dates = _texts(dataset, model.spec), _dates(dataset, model.spec, ())
    run = _Run(model, _as_is, on_bad_rows, texts, _Output.open(target), _Rejects(target), dates)
    chunks = _chunks(dataset, batch_rows, lambda p: _shown(source, p), {file.path}, file.first)
    parts, rejected = _drain(run, chunks, lambda: None, None)
    return FileScores(
        run.rows_in, run.rows_scored, run.bad_rows, parts, run.rejects.place.path if rejected else None
    )


def check_output(target: Place) -> None:
    """The errors writing to ``target`` would meet: a folder already holding part files, or a file where a
    folder was named."""
    _Output.open(target)


def publish(target: Place, scores: Sequence[FileScores]) -> tuple[tuple[str, ...], str | None]:
    """Gather what :func:`score_file` wrote for each file, in the input's order, into ``target`` as a
    whole-input run writes it; the parts and the side file of refused rows, named as shown."""
    out, rejects = _Output.open(target), _Rejects(target)
    try:
        for score in scores:
            for part in score.parts:
                out.adopt(part)
            if score.rejected is not None:
                rejects.adopt(score.rejected)
        parts, rejected = out.commit(), rejects.commit()
    except BaseException:
        for undo in (out.discard, rejects.discard):
            with contextlib.suppress(OSError):
                undo()
        raise
    return tuple(_shown(target, p) for p in parts), rejected


def score_dataset(
    model: LoadedModel,
    source: Place,
    target: Place,
    *,
    enrich: Enrich | None = None,
    dates: Collection[str] = (),
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
        dates: columns besides the model's date-time inputs that ``enrich`` reads as date-times (the model's
            timestamp column), parsed like them in a CSV input so a bad one is a bad row.
        on_bad_rows: ``fail``, ``skip`` or ``report`` a row that fails its input check.
        batch_rows: rows scored together; memory grows with this, not with the input.
        progress: called after each batch.
    """
    check_settings(on_bad_rows, batch_rows)
    try:
        return _score(
            model,
            source,
            target,
            _Settings(enrich or _as_is, tuple(dates), on_bad_rows, batch_rows, progress),
        )
    except OSError as exc:  # the disk or the bucket (pyarrow and fsspec raise OSError subclasses)
        raise storage_failure(source, target, exc) from exc


def check_settings(on_bad_rows: OnBadRows, batch_rows: int) -> None:
    """ValidationError for a mode or a batch size a run cannot use."""
    if on_bad_rows not in ON_BAD_ROWS:
        raise ValidationError(f"on_bad_rows must be one of {', '.join(ON_BAD_ROWS)}, got {on_bad_rows!r}")
    if batch_rows < 1:
        raise ValidationError(f"batch_rows must be at least 1, got {batch_rows}")


def no_rows(source: Place) -> str:
    """The error for an input without rows."""
    return f"input {source.shown} holds no rows to score"


def _as_is(frame: pd.DataFrame) -> pd.DataFrame:
    return frame


@dataclass(frozen=True)
class _Settings:
    enrich: Enrich
    dates: tuple[str, ...]
    on_bad_rows: OnBadRows
    batch_rows: int
    progress: ProgressCallback | None


def storage_failure(source: Place, target: Place, exc: OSError) -> MLFactoryError:
    """A storage failure named by URL (no secrets) with its fix, or a local file's failure by path."""
    for place in (source, target):
        if place.location is not None:
            from mlfactory.stores.fs import storage_error

            return storage_error(place.location, exc)
    return StorageError(f"scoring {source.shown} into {target.shown} failed: {exc}")


def _score(model: LoadedModel, source: Place, target: Place, settings: _Settings) -> ScoreResult:
    spec = model.spec
    dataset = open_input(source, spec, settings.dates)
    csv = isinstance(dataset.format, ds.CsvFileFormat)
    total = dataset.count_rows() if settings.progress is not None and not csv else None
    output, rejects = _Output.open(target), _Rejects(target)
    texts, dates = _texts(dataset, spec), _dates(dataset, spec, settings.dates)
    run = _Run(model, settings.enrich, settings.on_bad_rows, texts, output, rejects, dates)
    started = time.perf_counter()

    def report() -> None:
        if settings.progress is not None:
            elapsed = time.perf_counter() - started
            settings.progress(ScoreProgress(run.rows_in, run.rows_scored, run.bad_rows, elapsed, total))

    chunks = _chunks(dataset, settings.batch_rows, lambda p: _shown(source, p))
    parts, rejected = _drain(run, chunks, report, no_rows(source))
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
