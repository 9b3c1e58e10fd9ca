"""Ingestion: read a source, validate and profile it, and record it as an immutable dataset version."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mlfactory.config import LoadedConfig, SourceConfig
from mlfactory.data.profile import profile_frame
from mlfactory.data.schema import column_types, infer_column, infer_schema, schema_from_declared, validate
from mlfactory.data.sources import read_source
from mlfactory.entities import DatasetVersion
from mlfactory.errors import NotFoundError, ValidationError
from mlfactory.stores.artifacts import ArtifactStore
from mlfactory.stores.metadata import MetadataStore


@dataclass(frozen=True)
class IngestResult:
    """The dataset version of an ingest, and whether this ingest created it (False: it existed already)."""

    dataset: DatasetVersion
    created: bool


def content_hash(df: pd.DataFrame) -> str:
    """SHA-256 of a frame's column names, dtypes and cell values (not its index).

    Identical data gives the identical hash; changing any cell, column name or dtype changes it.

    Args:
        df: the data.

    Returns:
        64 lowercase hex characters.
    """
    h = hashlib.sha256()
    for name, dtype in df.dtypes.items():
        h.update(f"{name}\x1f{dtype}\x1e".encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()


def _pick_schema(
    source_name: str, source: SourceConfig, metadata: MetadataStore, df: pd.DataFrame
) -> tuple[dict[str, Any], bool, str]:
    """(schema, strict, origin): declared in the project file, else the first valid version's, else inferred
    from this data."""
    if source.columns:
        return schema_from_declared(source.columns), True, "declared"
    for version in metadata.list_datasets(source_name):
        if version.valid and version.schema.get("columns"):
            return version.schema, False, "previous"
    return infer_schema(df), False, "inferred"


def _store_snapshot(
    loaded: LoadedConfig, artifacts: ArtifactStore, df: pd.DataFrame, source_name: str
) -> str:
    """Write the frame as Parquet to a temporary file, store it as an artifact, and remove the file.

    The snapshot is an artifact, so it lands wherever ``stores.artifacts`` is (a folder or a bucket), hashed
    and verified like every artifact. ``stores.datasets`` is only the scratch space for the file on its way
    there; when it names object storage the scratch file is a local temporary one (a bucket has no place for
    a half-written file).
    """
    scratch = loaded.config.stores.datasets
    folder: Path | None = None
    if "://" not in scratch or scratch.startswith("file://"):
        folder = loaded.path(scratch.removeprefix("file://"))
        folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".parquet")
    os.close(fd)
    tmp = Path(name)
    try:
        try:
            df.to_parquet(tmp, index=False)
        except (ValueError, TypeError) as exc:  # arrow type errors derive from these
            raise ValidationError(
                f"source '{source_name}' cannot be stored as Parquet: {exc}; make each column hold one type",
                reasons=[str(exc)],
            ) from None
        return artifacts.put_file(tmp)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def ingest(
    loaded: LoadedConfig, metadata: MetadataStore, artifacts: ArtifactStore, source_name: str
) -> IngestResult:
    """Snapshot a source as a dataset version.

    Reads the source and hashes its content; identical content already ingested for this source returns that
    version (``created=False``) and writes nothing. Otherwise the data is validated against the declared
    schema (strict), else the first valid version's schema, else one inferred from this data (both lenient),
    profiled, stored as a Parquet artifact and recorded. Invalid data is recorded too, with ``valid=False``
    and the reasons in ``validation``, so it can be inspected; the caller decides whether to fail.

    Args:
        loaded: the project.
        metadata: where the version is recorded.
        artifacts: where the Parquet snapshot is stored.
        source_name: a source declared in the project file.

    Returns:
        The version and whether it was created.

    Raises:
        NotFoundError: the source is not declared, or its file is missing.
        ValidationError: the data is empty or unreadable.
        StoreUnavailableError: a SQL source cannot be reached.
    """
    sources = loaded.config.sources
    if source_name not in sources:
        known = ", ".join(sorted(sources)) or "none declared"
        raise NotFoundError(
            f"unknown source '{source_name}' (sources: {known}); "
            "declare it under 'sources' in the project file"
        )
    source = sources[source_name]
    df = read_source(source_name, source, loaded)
    digest = content_hash(df)
    for existing in metadata.list_datasets(source_name):
        if existing.content_hash == digest:
            return IngestResult(existing, False)

    schema, strict, origin = _pick_schema(source_name, source, metadata, df)
    validation = validate(df, schema, max_null_rate=source.max_null_rate, strict=strict)
    validation["schema_origin"] = origin
    # the version's schema describes all its columns: new ones (a warning when lenient) get inferred specs
    stored_schema = {"columns": {**schema["columns"]}}
    for column in df.columns:
        if column not in stored_schema["columns"]:
            stored_schema["columns"][str(column)] = infer_column(df[column])
    profile = profile_frame(df, column_types(stored_schema))
    artifact = _store_snapshot(loaded, artifacts, df, source_name)
    dataset, created = metadata.add_dataset(
        source=source_name,
        content_hash=digest,
        artifact=artifact,
        n_rows=len(df),
        schema=stored_schema,
        profile=profile,
        validation=validation,
        valid=not validation["reasons"],
    )
    return IngestResult(dataset, created)


def load_dataset(artifacts: ArtifactStore, dataset: DatasetVersion) -> pd.DataFrame:
    """Read a dataset version's snapshot back, verified against its hash.

    Args:
        artifacts: the store holding the snapshot.
        dataset: the version to load.

    Returns:
        The data as it was ingested.

    Raises:
        IntegrityError: the stored file was modified.
        NotFoundError: the snapshot is missing.
    """
    return pd.read_parquet(artifacts.local_path(dataset.artifact))
