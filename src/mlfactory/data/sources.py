"""Reading a declared source (CSV, Parquet, a folder of them, or a SQL query) into a DataFrame.

File sources are local paths or object storage URLs (``s3://…``, ``gs://…``, ``az://…``), read through
:mod:`mlfactory.stores.fs` one file at a time; a ``csv`` or ``parquet`` source may name a (hive-partitioned)
folder of that format.
"""

from __future__ import annotations

import contextlib
import posixpath
from pathlib import Path
from typing import Any

import pandas as pd

from mlfactory.config import LoadedConfig, SourceConfig
from mlfactory.data.schema import as_strings, is_stringish, looks_iso_datetime, to_utc_datetime
from mlfactory.errors import ConfigError, NotFoundError, StoreUnavailableError, ValidationError
from mlfactory.stores.fs import StorageLocation, missing_bucket, open_location, storage_error

#: File suffixes a folder source reads, by format.
FOLDER_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
#: How many non-null values of an undeclared string column are checked before parsing it as timestamps.
DATETIME_SAMPLE = 1000


def read_source(name: str, source: SourceConfig, loaded: LoadedConfig) -> pd.DataFrame:
    """Read a source's current data.

    Paths are relative to the project folder and may not leave it; object storage URLs are read with the
    project's ``stores.storage_options`` and credentials from the environment. Columns declared
    ``datetime`` are parsed to UTC timestamps (left as they are when some values do not parse, so validation
    can report them); columns declared ``category`` or ``text`` are read as strings; undeclared string
    columns whose sampled values are all ISO-8601 dates become UTC timestamps when every value parses.

    Args:
        name: the source's name in the project file (used in messages).
        source: its configuration.
        loaded: the project, to resolve paths against.

    Returns:
        The data, with a fresh ``RangeIndex``.

    Raises:
        NotFoundError: the file or folder does not exist.
        ValidationError: the data is empty, unreadable, or a folder's files disagree on their columns.
        StoreUnavailableError: the SQL database cannot be reached.
        ConfigError: the SQL URL or query is wrong.
    """
    declared = source.columns or {}
    as_text = [c for c, spec in declared.items() if spec.type in ("category", "text")]
    if source.kind == "sql":
        df = _read_sql(name, str(source.url), str(source.query), loaded)
    else:
        df = _read_files(name, source, loaded, as_text)
    if df.empty:
        raise ValidationError(
            f"source '{name}' has no data ({len(df)} rows, {len(df.columns)} columns); "
            "check that the file or query returns rows",
            reasons=["no rows"],
        )
    df = df.reset_index(drop=True)
    for column in as_text:
        if column in df.columns and not is_stringish(df[column]):
            df[column] = as_strings(df[column])
    return _parse_datetimes(df, {c for c, spec in declared.items() if spec.type == "datetime"}, set(declared))


def _location(source: SourceConfig, loaded: LoadedConfig) -> StorageLocation:
    """Where a file source is: a project-relative (or absolute) path, or an object storage URL."""
    raw = str(source.path)
    if "://" in raw and not raw.startswith("file://"):
        return open_location(raw, loaded.root, loaded.config.stores.storage_options)
    return open_location(str(loaded.path(raw.removeprefix("file://"))), loaded.root)


def _read_files(name: str, source: SourceConfig, loaded: LoadedConfig, as_text: list[str]) -> pd.DataFrame:
    location = _location(source, loaded)
    try:
        exists, is_dir = location.fs.exists(location.root), location.fs.isdir(location.root)
    except Exception as exc:  # OSError and backend errors (botocore, aiohttp) share no base class
        raise storage_error(location, exc) from exc
    if not exists:
        raise missing_bucket(location) or NotFoundError(
            f"source '{name}': {source.kind} path '{source.path}' does not exist (looked at "
            f"{location.describe()}); create it or fix the source's 'path' in the project file"
        )
    if source.kind == "folder":
        return _read_folder(name, location, as_text)
    if is_dir:  # a partitioned folder of this one format
        return _read_tree(name, location, source.kind, as_text)
    return _read_file(name, location, location.root, source.kind, as_text)


def _read_file(
    name: str, location: StorageLocation, path: str, kind: str, as_text: list[str]
) -> pd.DataFrame:
    shown = posixpath.basename(path)
    try:
        with contextlib.ExitStack() as stack:
            # local files are read by path, as they always were; remote ones through the filesystem
            src: Any = path if location.local else stack.enter_context(location.fs.open(path, "rb"))
            if kind == "csv":
                return pd.read_csv(src, dtype={c: "str" for c in as_text})
            return pd.read_parquet(src)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (ValueError, OSError, UnicodeDecodeError) as exc:  # parser and arrow errors derive from these
        if not location.local and not isinstance(exc, ValueError | UnicodeDecodeError):
            raise storage_error(location, exc, path) from exc
        raise ValidationError(
            f"source '{name}': cannot read {shown} as {kind}: {exc}; check the file's format",
            reasons=[f"{shown}: {exc}"],
        ) from None


def _data_files(location: StorageLocation, suffixes: set[str], recursive: bool) -> list[str]:
    """Data files under the location, sorted; hidden and marker files (``.tmp-…``, ``_SUCCESS``) left out."""
    try:
        if recursive:
            found = list(location.fs.find(location.root))
        else:
            found = [e["name"] for e in location.fs.ls(location.root, detail=True) if e["type"] == "file"]
    except Exception as exc:  # see _read_files
        raise storage_error(location, exc) from exc
    prefix = location.root.rstrip("/") + "/"
    keep = []
    for path in found:
        rel = path.removeprefix(prefix)
        if any(part.startswith((".", "_")) for part in rel.split("/")):
            continue
        if posixpath.splitext(path)[1].lower() in suffixes:
            keep.append(path)
    return sorted(keep)


def _partition_values(location: StorageLocation, path: str) -> dict[str, str]:
    """Hive-style ``key=value`` folders between the root and a file."""
    rel = path.removeprefix(location.root.rstrip("/") + "/")
    return dict(part.split("=", 1) for part in rel.split("/")[:-1] if "=" in part)


def _read_tree(name: str, location: StorageLocation, kind: str, as_text: list[str]) -> pd.DataFrame:
    """A (possibly hive-partitioned) folder of one format, read one file at a time."""
    suffixes = {s for s, k in FOLDER_SUFFIXES.items() if k == kind}
    files = _data_files(location, suffixes, recursive=True)
    if not files:
        raise ValidationError(
            f"source '{name}': folder {location.describe()} holds no {', '.join(sorted(suffixes))} files; "
            "add data files",
            reasons=["no data files"],
        )
    frames: list[pd.DataFrame] = []
    for path in files:
        frame = _read_file(name, location, path, kind, as_text)
        for key, value in _partition_values(location, path).items():
            if key not in frame.columns:
                frame[key] = value  # the partition folder's value, as text: the same on every backend
        frames.append(_same_columns(name, frames, frame, path, files[0]))
    return pd.concat(frames, ignore_index=True)


def _same_columns(
    name: str, frames: list[pd.DataFrame], frame: pd.DataFrame, path: str, first_path: str
) -> pd.DataFrame:
    if not frames:
        return frame
    if set(frame.columns) != set(frames[0].columns):
        first = list(frames[0].columns)
        missing = [c for c in first if c not in frame.columns]
        extra = [c for c in frame.columns if c not in first]
        shown, first_shown = posixpath.basename(path), posixpath.basename(first_path)
        raise ValidationError(
            f"source '{name}': {shown} has different columns from {first_shown} "
            f"(missing: {missing or 'none'}; extra: {extra or 'none'}); every file in the folder "
            "must have the same columns",
            reasons=[f"{shown}: missing {missing}, extra {extra}"],
        )
    return frame[list(frames[0].columns)]


def _read_folder(name: str, location: StorageLocation, as_text: list[str]) -> pd.DataFrame:
    try:
        is_dir = location.fs.isdir(location.root)
    except Exception as exc:  # see _read_files
        raise storage_error(location, exc) from exc
    if not is_dir:
        raise ConfigError(
            f"source '{name}': '{location.describe()}' is a file, but the kind is 'folder'; "
            "use kind csv or parquet"
        )
    files = _data_files(location, set(FOLDER_SUFFIXES), recursive=False)
    if not files:
        raise ValidationError(
            f"source '{name}': folder {location.describe()} holds no {', '.join(FOLDER_SUFFIXES)} files; "
            "add data files",
            reasons=["no data files"],
        )
    frames: list[pd.DataFrame] = []
    for path in files:
        kind = FOLDER_SUFFIXES[posixpath.splitext(path)[1].lower()]
        frame = _read_file(name, location, path, kind, as_text)
        frames.append(_same_columns(name, frames, frame, path, files[0]))
    return pd.concat(frames, ignore_index=True)


# How each backend is told that a source's session may only read: a query that writes (``drop table`` by
# mistake or by injection into the project file) fails instead of changing the source. Other backends rely
# on the source's user having read rights only, as the README says.
READ_ONLY = {
    "sqlite": "PRAGMA query_only = ON",
    "postgresql": "SET TRANSACTION READ ONLY",  # the first statement of the transaction the query runs in
}


def _read_only(connection: Any) -> None:
    statement = READ_ONLY.get(connection.engine.dialect.name)
    if statement:
        connection.exec_driver_sql(statement)


def _read_sql(name: str, url: str, query: str, loaded: LoadedConfig) -> pd.DataFrame:
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError:
        raise ConfigError(
            f"source '{name}': '{url.split('@')[-1]}' is not a database URL; "
            "use e.g. sqlite:///data.db or postgresql+psycopg://user:password@host/db"
        ) from None
    shown = parsed.render_as_string(hide_password=True)
    password = parsed.password

    def mask(text: str) -> str:
        return text.replace(str(password), "***") if password else text

    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        db = Path(parsed.database)
        db = db if db.is_absolute() else loaded.path(str(db))
        if not db.exists():  # connecting would create an empty database file
            raise NotFoundError(
                f"source '{name}': the SQLite database {db} does not exist; fix the source's url"
            )
        parsed = parsed.set(database=str(db))
    elif parsed.get_backend_name() == "postgresql":
        connect_args["connect_timeout"] = 10
    try:
        engine = sa.create_engine(parsed, connect_args=connect_args)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        raise ConfigError(
            f"source '{name}': cannot use database URL {shown}: {mask(str(exc))}; "
            "check the driver in the URL and that its package is installed"
        ) from None
    try:
        try:
            connection = engine.connect()
        except sa.exc.DBAPIError as exc:
            reason = mask(str(exc.orig)).strip().splitlines()[0] if exc.orig else type(exc).__name__
            raise StoreUnavailableError(
                f"source '{name}': cannot connect to {shown} ({reason}); check that the database is running "
                "and reachable, and the host, port, user and password in the source's url"
            ) from None
        with connection:
            try:
                _read_only(connection)
                return pd.read_sql(sa.text(query), connection)
            except (sa.exc.SQLAlchemyError, pd.errors.DatabaseError) as exc:
                cause = exc.__cause__ if isinstance(exc.__cause__, sa.exc.SQLAlchemyError) else exc
                reason = mask(str(getattr(cause, "orig", None) or cause)).strip().splitlines()[0]
                raise ConfigError(
                    f"source '{name}': the query failed on {shown}: {reason}; fix the source's 'query'"
                ) from None
    finally:
        engine.dispose()


def _parse_datetimes(df: pd.DataFrame, declared: set[str], known: set[str]) -> pd.DataFrame:
    for column in df.columns:
        s = df[column]
        if column in declared:
            parsed = to_utc_datetime(s)
            if not (s.notna() & parsed.isna()).any():  # else keep the raw values for validation to report
                df[column] = parsed
        elif column not in known and is_stringish(s):
            sample = s.dropna().head(DATETIME_SAMPLE)
            if looks_iso_datetime(sample):
                parsed = to_utc_datetime(s)
                if not (s.notna() & parsed.isna()).any():
                    df[column] = parsed
    return df
