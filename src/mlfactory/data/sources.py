"""Reading a declared source (CSV, Parquet, a folder of them, or a SQL query) into a DataFrame."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from mlfactory.config import LoadedConfig, SourceConfig
from mlfactory.data.schema import as_strings, is_stringish, looks_iso_datetime, to_utc_datetime
from mlfactory.errors import ConfigError, NotFoundError, StoreUnavailableError, ValidationError

#: File suffixes a folder source reads, by format.
FOLDER_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
#: How many non-null values of an undeclared string column are checked before parsing it as timestamps.
DATETIME_SAMPLE = 1000


def read_source(name: str, source: SourceConfig, loaded: LoadedConfig) -> pd.DataFrame:
    """Read a source's current data.

    Paths are relative to the project folder and may not leave it. Columns declared ``datetime`` are parsed
    to UTC timestamps (left as they are when some values do not parse, so validation can report them);
    columns declared ``category`` or ``text`` are read as strings; undeclared string columns whose sampled
    values are all ISO-8601 dates become UTC timestamps when every value parses.

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
        path = loaded.path(str(source.path))
        if not path.exists():
            raise NotFoundError(
                f"source '{name}': {source.kind} path '{source.path}' does not exist (looked at {path}); "
                "create it or fix the source's 'path' in the project file"
            )
        if source.kind == "folder":
            df = _read_folder(name, path, as_text)
        else:
            if path.is_dir():
                raise ConfigError(
                    f"source '{name}': '{source.path}' is a folder, but the kind is '{source.kind}'; "
                    "use kind 'folder' or point 'path' at a file"
                )
            df = _read_file(name, path, source.kind, as_text)
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


def _read_file(name: str, path: Path, kind: str, as_text: list[str]) -> pd.DataFrame:
    try:
        if kind == "csv":
            return pd.read_csv(path, dtype={c: "str" for c in as_text})
        return pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (ValueError, OSError, UnicodeDecodeError) as exc:  # parser and arrow errors derive from these
        raise ValidationError(
            f"source '{name}': cannot read {path.name} as {kind}: {exc}; check the file's format",
            reasons=[f"{path.name}: {exc}"],
        ) from None


def _read_folder(name: str, folder: Path, as_text: list[str]) -> pd.DataFrame:
    if not folder.is_dir():
        raise ConfigError(
            f"source '{name}': '{folder}' is a file, but the kind is 'folder'; use kind csv or parquet"
        )
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in FOLDER_SUFFIXES)
    if not files:
        raise ValidationError(
            f"source '{name}': folder {folder} holds no {', '.join(FOLDER_SUFFIXES)} files; add data files",
            reasons=["no data files"],
        )
    frames: list[pd.DataFrame] = []
    for path in files:
        frame = _read_file(name, path, FOLDER_SUFFIXES[path.suffix.lower()], as_text)
        if frames and set(frame.columns) != set(frames[0].columns):
            first = list(frames[0].columns)
            missing = [c for c in first if c not in frame.columns]
            extra = [c for c in frame.columns if c not in first]
            raise ValidationError(
                f"source '{name}': {path.name} has different columns from {files[0].name} "
                f"(missing: {missing or 'none'}; extra: {extra or 'none'}); every file in the folder "
                "must have the same columns",
                reasons=[f"{path.name}: missing {missing}, extra {extra}"],
            )
        frames.append(frame[list(frames[0].columns)] if frames else frame)
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
