"""A view's feature table computed in one process, or split by entity across the executor's workers: the
same table either way.

A view that declares ``per_entity=True`` computes each entity's rows from that entity's source rows alone,
so its source can be split by a hash of the join keys (DuckDB's ``hash(keys) % count``, pushed into the read
of the Parquet snapshot): each worker computes the view on its partition's rows and this process puts the
parts together. Splitting pays only for a large source on several workers (the project's ``features.split``,
:class:`~mlfactory.config.FeatureSplitConfig`; otherwise the view runs here).

A view whose function reads across entities (a share of all mail, a rank among domains, the source's overall
time span) would give other values on a part of the source, so it is never split. The declaration is
checked before each split: the view is computed on a few entities alone and together with other entities'
rows and the source's earliest and latest rows; if the entities' rows differ, the view runs in one process
and the note says why.

Either way the table is put in one order (join keys, event time, created time), so the stored table, the
online values materialized from it and the training sets joined with it are the same bytes.

What a worker gets is plain: the partition, the source's artifact by digest (the worker opens the artifact
store and verifies the bytes) and the feature module's text with its SHA-256 (the worker checks it, imports
it and checks the view's code version). The module travels by content, so a ``ray://`` cluster needs no
copy of the project folder; it does need to reach the artifact store (object storage, or a folder at the
same path on every node), and the module must import nothing from the project folder.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mlfactory.config import FeatureSplitConfig
from mlfactory.errors import ComputeError, ValidationError
from mlfactory.features.compute import CREATED, EVENT, compute_view
from mlfactory.features.definitions import FeatureView
from mlfactory.features.offline import connect, lit, q
from mlfactory.features.online.base import entity_key
from mlfactory.features.repo import import_definitions

if TYPE_CHECKING:
    from mlfactory.compute import Executor


#: entities computed alone, and as many others added, when checking that a view is per entity
PROBE_ENTITIES = 16


@dataclass(frozen=True)
class SourceRef:
    """A dataset version's Parquet snapshot in the artifact store, as a worker opens it."""

    digest: str
    artifacts: str  # ``stores.artifacts``; relative paths are under ``root``
    root: Path
    storage_options: dict[str, Any] = field(default_factory=dict)

    def path(self) -> Path:
        """The snapshot's local file, its bytes verified against the digest."""
        from mlfactory.stores.artifacts import open_artifact_store

        return open_artifact_store(self.artifacts, self.root, self.storage_options).local_path(self.digest)


@dataclass(frozen=True)
class ModuleRef:
    """The project's feature module by content: its text and the SHA-256 of that text."""

    text: str
    sha256: str

    @classmethod
    def of(cls, path: Path) -> ModuleRef:
        text = path.read_text(encoding="utf-8")
        return cls(text, hashlib.sha256(text.encode()).hexdigest())


@dataclass(frozen=True)
class PartitionWork:
    """One worker's part of a view: the rows whose entity hashes to ``index`` modulo ``count``."""

    index: int
    count: int
    source: SourceRef
    module: ModuleRef
    view: str
    code_version: str


@dataclass(frozen=True)
class ComputedTable:
    """A view's feature table and how it was computed (``partitions`` 1: in this process)."""

    frame: pd.DataFrame
    partitions: int
    note: str


def compute_table(
    view: FeatureView,
    path: Path,
    work: tuple[SourceRef, ModuleRef | None],
    compute: Executor | None,
    split: FeatureSplitConfig = FeatureSplitConfig(),
) -> ComputedTable:
    """A view's feature table over a source snapshot, split by entity across ``compute``'s workers when the
    view is per entity and the source and the executor are large enough (``split``).

    Args:
        view: the view.
        path: the snapshot's local file, verified (read here).
        work: the snapshot and the feature module as workers get them (the module None: none declared).
        compute: the executor; None computes here.
        split: from how many source rows and workers a per-entity view is split (``features.split``).

    Raises:
        ValidationError: the view's function failed or returned something wrong (see :func:`compute_view`).
        ComputeError: a worker failed, or the feature module changed while the view was being computed.
    """
    source, module = work
    file = pq.ParquetFile(path)
    rows = file.metadata.num_rows
    reason = _stay_reason(view, (rows, file.schema_arrow.names), split.min_rows)
    if reason is None and (compute is None or module is None):
        reason = "no executor and feature module to split with"
    count = compute.workers if compute is not None and reason is None else 1  # may start a cluster
    if reason is None and count < split.min_workers:
        reason = (
            f"compute '{compute.url if compute else None}' has {count} worker(s), under {split.min_workers}"
        )
    if reason is None:
        reason = probe(view, path)
    if reason is not None or compute is None or module is None:
        frame = compute_view(view, pd.read_parquet(path))
        return ComputedTable(in_order(frame, view.join_keys), 1, f"in one process: {reason}")
    items = [PartitionWork(i, count, source, module, view.name, view.code_version) for i in range(count)]
    done = _map(compute, items)
    if sum(n for n, _ in done) != rows:  # workers whose DuckDB hashes differently split another way
        raise ComputeError(
            f"the {count} partitions of view '{view.name}' read {sum(n for n, _ in done)} of the source's "
            f"{rows} rows; every worker needs the DuckDB version of this machine ({duckdb.__version__})"
        )
    parts = [p for _, p in done if p is not None]
    frame = pd.concat(parts, ignore_index=True) if parts else compute_view(view, pd.read_parquet(path))
    note = f"split by entity into {count} partitions of {rows} source rows on compute '{compute.url}'"
    return ComputedTable(in_order(frame, view.join_keys), count, note)


def _map(compute: Executor, items: list[PartitionWork]) -> list[tuple[int, pd.DataFrame | None]]:
    """Every partition on the executor; a view's own error in a worker is raised as it is in one process."""
    try:
        return compute.map(compute_partition, items)
    except ComputeError as exc:
        cause = exc.__cause__
        own = getattr(cause, "cause", None) or cause  # Ray wraps the task's error once more
        if isinstance(own, ValidationError):
            raise ValidationError(str(own), own.reasons) from exc
        raise


def _stay_reason(view: FeatureView, source: tuple[int, list[str]], split_rows: int) -> str | None:
    """Why the view runs in this process without trying a split (``source``: its rows and columns), or None
    to try one."""
    rows, columns = source
    if not view.per_entity:
        return "the view does not declare per_entity=True"
    if missing := [k for k in view.join_keys if k not in columns]:
        return f"its source has no column(s) {missing} to split its entities by"
    if rows < split_rows:
        return f"{rows} source rows, under the {split_rows} from which it is split"
    return None


def in_order(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """The table in its one order: join keys, event time, created time (one row each, by compute_view).
    Keys of mixed types (numbers and text in one column) are ordered by their text."""
    columns = [*keys, EVENT, CREATED]
    try:
        ordered = frame.sort_values(columns, ignore_index=True)
    except TypeError:
        as_text = {k: frame[k].map(lambda v: entity_key([v])) for k in keys}
        order = pd.DataFrame({**as_text, EVENT: frame[EVENT], CREATED: frame[CREATED]}).sort_values(columns)
        ordered = frame.loc[order.index].reset_index(drop=True)
    return ordered


def compute_partition(work: PartitionWork) -> tuple[int, pd.DataFrame | None]:
    """A worker's part: how many source rows its partition has, and the view computed on them (None when
    there are none)."""
    view = _view(work.module, work.view, work.code_version)
    path = work.source.path()
    mine = f"hash({_keys(view)}) % {work.count} = {work.index}"
    rows = _row_numbers(path, mine)
    if len(rows) == 0:
        return 0, None
    frame = compute_view(view, read_rows(path, rows))
    with connect() as con:
        con.register("part", frame[list(view.join_keys)])
        strays = con.execute(f"SELECT count(*) FROM part WHERE NOT ({mine})").fetchone()
    if strays and strays[0]:
        raise ValidationError(
            f"feature view '{view.name}' declares per_entity=True, but from the source rows of some entities "
            "it returned rows of other entities (its join keys are not the source's as they are); drop "
            "per_entity=True"
        )
    return len(rows), frame


_VIEWS: dict[tuple[str, str], FeatureView] = {}  # this worker's imported views, by module hash and name


def _view(module: ModuleRef, name: str, code_version: str) -> FeatureView:
    """The view from the module's text, imported once per worker; its hash and code version checked."""
    if hashlib.sha256(module.text.encode()).hexdigest() != module.sha256:
        raise ComputeError("the feature module arrived altered (its SHA-256 differs); run it again")
    if (module.sha256, name) not in _VIEWS:
        folder = Path(tempfile.gettempdir()) / "mlfactory-features"
        folder.mkdir(exist_ok=True)
        file = folder / f"features_{module.sha256[:16]}.py"  # a file, so the view's source can be read
        if not file.exists():  # written whole under another name, then renamed: workers share the folder
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(module.text)
            os.replace(tmp, file)
        for each in import_definitions(file).views.values():
            _VIEWS[(module.sha256, each.name)] = each
    view = _VIEWS.get((module.sha256, name))
    if view is None or view.code_version != code_version:
        raise ComputeError(
            f"feature view '{name}' is not the one being computed (code version {code_version}); the "
            "feature module changed meanwhile. Run it again"
        )
    return view


def _keys(view: FeatureView) -> str:
    return ", ".join(q(k) for k in view.join_keys)


def _row_numbers(path: Path, where: str) -> np.ndarray:
    """The snapshot's row numbers (0-based, ascending) that satisfy a DuckDB condition."""
    sql = (
        f"SELECT file_row_number FROM read_parquet({lit(path)}, file_row_number = true) "
        f"WHERE {where} ORDER BY file_row_number"
    )
    with connect() as con:
        found: np.ndarray = con.execute(sql).fetchnumpy()["file_row_number"]
    return np.asarray(found, dtype="int64")


def read_rows(path: Path, rows: np.ndarray) -> pd.DataFrame:
    """Some rows of a Parquet snapshot (ascending row numbers), as ``pd.read_parquet`` gives the whole file:
    the same types, and the rows' own positions as their index. One row group is held at a time."""
    file = pq.ParquetFile(path)
    parts, start = [], 0
    for group in range(file.num_row_groups):
        size = file.metadata.row_group(group).num_rows
        lo, hi = np.searchsorted(rows, [start, start + size])
        if hi > lo:
            parts.append(file.read_row_group(group).take(pa.array(rows[lo:hi] - start)))
        start += size
    table = pa.concat_tables(parts) if parts else file.schema_arrow.empty_table()
    frame = table.to_pandas()
    if isinstance(frame.index, pd.RangeIndex):
        frame.index = pd.Index(rows, dtype="int64")
    return frame


def probe(view: FeatureView, path: Path) -> str | None:
    """Whether the view computes each entity from its own rows: a few entities, each computed alone, must
    get the rows they get beside other entities and the source's earliest and latest rows (which catches
    totals and ranks over entities, and time spans taken over the whole source). None when they do;
    otherwise why the view is not split."""
    keys, ts = _keys(view), q(view.timestamp)
    src = f"read_parquet({lit(path)}, file_row_number = true)"
    sample = f"(SELECT DISTINCT hash({keys}) AS h FROM {src} ORDER BY h LIMIT {2 * PROBE_ENTITIES})"
    ranked = f"(SELECT h, row_number() OVER (ORDER BY h) AS r FROM {sample})"
    alone = f"hash({keys}) IN (SELECT h FROM {ranked} WHERE r <= {PROBE_ENTITIES})"
    beside = f"hash({keys}) IN (SELECT h FROM {sample})"
    if view.timestamp in pq.read_schema(path).names:
        first_last = f"[arg_min(file_row_number, {ts}), arg_max(file_row_number, {ts})]"
        beside += f" OR file_row_number IN (SELECT unnest({first_last}) FROM {src})"
    try:
        few = _each_alone(view, read_rows(path, _row_numbers(path, alone)))
        many = compute_view(view, read_rows(path, _row_numbers(path, beside)))
    except (ValidationError, duckdb.Error) as exc:
        return f"the check that it is per entity could not run ({exc})"
    ids = set(_entities(few, view.join_keys))
    many = many[[e in ids for e in _entities(many, view.join_keys)]]
    if in_order(few, view.join_keys).equals(in_order(many, view.join_keys)):
        return None
    return (
        "it declares per_entity=True, but its rows for some entities change when other entities' rows are "
        "beside them (it reads across entities, e.g. a total, a rank or the source's time span); make each "
        "entity's rows depend on its own source rows only, or drop per_entity=True"
    )


def _each_alone(view: FeatureView, rows: pd.DataFrame) -> pd.DataFrame:
    """The view computed on each entity's rows alone, the parts together."""
    groups = rows.groupby(list(view.join_keys), sort=False)
    parts = [compute_view(view, part) for _, part in groups]
    return pd.concat(parts, ignore_index=True) if parts else compute_view(view, rows)


def _entities(frame: pd.DataFrame, keys: Sequence[str]) -> list[str]:
    return [entity_key(v) for v in zip(*(frame[k] for k in keys), strict=True)]
