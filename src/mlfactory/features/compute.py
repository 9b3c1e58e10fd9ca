"""Running a view's function on its source data and checking what comes back.

The output is normalized to one layout every other part relies on: the join keys, ``_event_ts`` (when the
values became true), ``_created_ts`` (when they were written; the event time when the view has no created
column), then the declared features in declared order, each cast to its declared type.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from mlfactory.errors import ValidationError
from mlfactory.features.definitions import FeatureView

EVENT, CREATED = "_event_ts", "_created_ts"


def _utc(s: pd.Series, view: str, column: str) -> pd.Series:
    try:
        with warnings.catch_warnings():  # odd formats are an error below, not a warning
            warnings.simplefilter("ignore", UserWarning)
            out = pd.to_datetime(s, utc=True)
    except (ValueError, TypeError) as exc:
        raise ValidationError(
            f"feature view '{view}': column '{column}' must hold timestamps, got values like "
            f"{s.dropna().head(3).tolist()} ({exc}); return datetimes"
        ) from None
    if out.isna().any():
        raise ValidationError(
            f"feature view '{view}': {int(out.isna().sum())} row(s) have no '{column}'; "
            "every feature row needs "
            "a timestamp, so drop or fill those rows"
        )
    return out.astype("datetime64[us, UTC]")


def _cast(s: pd.Series, kind: str, view: str, name: str) -> pd.Series:
    def wrong(expect: str, fix: str) -> ValidationError:
        sample = s.dropna().head(3).tolist()
        return ValidationError(
            f"feature view '{view}': feature '{name}' is declared {kind} but the function returned {s.dtype} "
            f"values like {sample}; {expect} — {fix}"
        )

    if kind in ("number", "integer"):
        if pd.api.types.is_bool_dtype(s) or not (pd.api.types.is_numeric_dtype(s) or s.isna().all()):
            raise wrong("expected numbers", f"convert it with .astype(float) or declare it as {_guess(s)}")
        values = s.astype("float64")
        if kind == "integer":
            finite = values.dropna()
            if not np.all(np.equal(np.floor(finite), finite)):
                raise wrong("expected whole numbers", "round it or declare it as 'number'")
            return values.astype("Int64")
        return values
    if kind == "boolean":
        if pd.api.types.is_bool_dtype(s):
            return s.astype("boolean")
        if pd.api.types.is_numeric_dtype(s) and s.dropna().isin([0, 1]).all():
            return s.astype("boolean")
        raise wrong("expected True/False or 0/1", "compare it to something (e.g. s > 0) or declare its type")
    if pd.api.types.is_numeric_dtype(s) and not s.isna().all():
        raise wrong("expected text", "convert it with .astype(str) or declare it as 'number'")
    return s.astype("string").astype(object).where(s.notna(), None)


def _guess(s: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(s):
        return "'boolean'"
    return "'category' or 'text'"


def compute_view(view: FeatureView, source: pd.DataFrame) -> pd.DataFrame:
    """Compute a view's feature rows from its source's data, checked and normalized.

    Args:
        view: the view.
        source: the source's dataset version as a frame.

    Returns:
        Join keys, ``_event_ts``, ``_created_ts`` and the declared features.

    Raises:
        ValidationError: the function raised, returned something other than a DataFrame, lacks a column,
            returned a wrong type, or returned two rows for one entity at one time.
    """
    if view.function is None:
        out = source
    else:
        try:
            out = view.function(source.copy())
        except Exception as exc:
            raise ValidationError(
                f"feature view '{view.name}': its function {view.function.__qualname__} raised "
                f"{type(exc).__name__}: {exc}; fix the function (it receives source '{view.source}' as a "
                f"DataFrame with columns {list(source.columns)})"
            ) from exc
        if not isinstance(out, pd.DataFrame):
            raise ValidationError(
                f"feature view '{view.name}': its function returned {type(out).__name__}, not a DataFrame; "
                "return a DataFrame with the join keys, the timestamp column and the features"
            )
    where = "source '" + view.source + "'" if view.function is None else "the function's result"
    needed = [
        *view.join_keys,
        view.timestamp,
        *([view.created_timestamp] if view.created_timestamp else []),
        *view.features,
    ]
    missing = [c for c in needed if c not in out.columns]
    if missing:
        raise ValidationError(
            f"feature view '{view.name}': {where} lacks column(s) {missing} (it has {list(out.columns)}); "
            "return every join key, the timestamp column and each declared feature"
        )
    null_keys = out[list(view.join_keys)].isna().any(axis=1)
    frame = pd.DataFrame({k: out.loc[~null_keys, k].to_numpy() for k in view.join_keys})
    out = out.loc[~null_keys]
    frame[EVENT] = _utc(out[view.timestamp], view.name, view.timestamp).to_numpy()
    created = out[view.created_timestamp] if view.created_timestamp else out[view.timestamp]
    frame[CREATED] = _utc(created, view.name, view.created_timestamp or view.timestamp).to_numpy()
    for name, kind in view.features.items():
        frame[name] = _cast(out[name].reset_index(drop=True), kind, view.name, name).to_numpy()
        frame[name] = frame[name].astype(_dtype(kind))
    dupes = frame.duplicated([*view.join_keys, EVENT, CREATED], keep=False)
    if dupes.any():
        first = frame.loc[dupes, [*view.join_keys, EVENT]].head(1).to_dict("records")[0]
        raise ValidationError(
            f"feature view '{view.name}': {int(dupes.sum())} rows share their join keys and timestamp "
            f"(e.g. {first}); return one row per entity and time (aggregate, or keep the latest)"
        )
    return frame


def _dtype(kind: str) -> str:
    return {"number": "float64", "integer": "Int64", "boolean": "boolean"}.get(kind, "object")
