"""The prediction log: every answered row, as Parquet segments a project's servers share.

One owner for the log: :mod:`.layout` (folders, segment names, columns, request ids), :mod:`.writer` (the
servers' :class:`PredictionLog`, with its durability guarantee), :mod:`.reader` (:class:`PredictionReader`,
rows by model, version, route, time and id) and :mod:`.window` (monitoring windows). Everything opens the
project's log through :func:`open_prediction_reader` or :func:`open_prediction_log`, from the settings under
``server.prediction_log`` (a folder, or any storage URL with ``stores.storage_options``). :mod:`.upkeep`
compacts small segments and drops days past the retention period.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlfactory.lazy import lazy_names
from mlfactory.stores.fs import StorageLocation, open_location
from mlfactory.stores.predictions.layout import (
    BASE_COLUMNS,
    FIXED_TYPES,
    INPUT_PREFIX,
    VIOLATIONS,
    RequestIds,
    request_id_time,
)
from mlfactory.stores.predictions.reader import LoggedPrediction, PredictionReader
from mlfactory.stores.predictions.window import LogSource, LogWindow, Window

if TYPE_CHECKING:
    from mlfactory.config import LoadedConfig, PredictionLogConfig
    from mlfactory.stores.predictions.segment import LoggedInputs
    from mlfactory.stores.predictions.writer import PredictionLog

# the writer is loaded on first use (PEP 562): readers of the log, such as a monitoring run, do not need it
_LAZY = {
    "LoggedInputs": "mlfactory.stores.predictions.segment",
    "PredictionLog": "mlfactory.stores.predictions.writer",
}


__getattr__ = lazy_names(__name__, _LAZY)


def log_location(loaded: LoadedConfig, settings: PredictionLogConfig | None = None) -> StorageLocation:
    """Where the project's prediction log lives: a folder inside the project, or a storage URL.

    Args:
        loaded: the project's loaded configuration.
        settings: the log's settings (default: the project file's ``server.prediction_log``).
    """
    cfg = settings or loaded.config.server.prediction_log
    if "://" in cfg.path and not cfg.path.startswith("file://"):
        return open_location(cfg.path, loaded.root, loaded.config.stores.storage_options)
    return open_location(str(loaded.path(cfg.path.removeprefix("file://"))), loaded.root)


def open_prediction_reader(
    loaded: LoadedConfig, settings: PredictionLogConfig | None = None
) -> PredictionReader:
    """The project's prediction log, for reading.

    Args:
        loaded: the project's loaded configuration (its root resolves a relative path).
        settings: the log's settings (default: the project file's ``server.prediction_log``).
    """
    return PredictionReader(log_location(loaded, settings))


def open_prediction_log(loaded: LoadedConfig, settings: PredictionLogConfig | None = None) -> PredictionLog:
    """The project's prediction log, for a server to write (call ``start()``, and ``close()`` to flush).

    Args:
        loaded: the project's loaded configuration (its root resolves a relative path).
        settings: the log's settings (default: the project file's ``server.prediction_log``; a server
            started with its own settings passes those).
    """
    from mlfactory.stores.predictions.writer import PredictionLog

    cfg = settings or loaded.config.server.prediction_log
    return PredictionLog(
        log_location(loaded, cfg), flush_interval=cfg.flush_interval, max_pending_rows=cfg.max_pending_rows
    )


__all__ = [
    "BASE_COLUMNS",
    "FIXED_TYPES",
    "INPUT_PREFIX",
    "VIOLATIONS",
    "LogSource",
    "LogWindow",
    "LoggedInputs",
    "LoggedPrediction",
    "PredictionLog",
    "PredictionReader",
    "RequestIds",
    "Window",
    "log_location",
    "open_prediction_log",
    "open_prediction_reader",
    "request_id_time",
]
