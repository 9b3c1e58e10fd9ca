"""Where the heavy work runs: an :class:`Executor` opened from the project's ``compute`` URL.

``local`` (the default) runs on this machine's processes (:mod:`mlfactory.compute.local`); ``ray`` starts
a Ray on loopback and ``ray://host:port`` connects to an existing Ray cluster
(:mod:`mlfactory.compute.ray`). The ``MLFACTORY_COMPUTE`` environment variable overrides the file.
"""

from __future__ import annotations

from mlfactory.compute.base import Executor
from mlfactory.compute.local import LocalExecutor
from mlfactory.compute.ray import RayExecutor
from mlfactory.errors import ConfigError


def open_executor(url: str, *, workers: int | None = None) -> Executor:
    """The executor for a ``compute`` URL; nothing starts until it is first used.

    Args:
        url: ``local``, ``ray`` or ``ray://host:port`` (validated with the project file).
        workers: processes of ``local``, CPUs of the Ray that ``ray`` starts; this machine's count if None.
    """
    if url == "local":
        return LocalExecutor(workers)
    if url == "ray" or url.startswith("ray://"):
        return RayExecutor(url, workers=workers)
    raise ConfigError(f"compute '{url}' is not an executor; write local, ray or ray://HOST:PORT")


__all__ = ["Executor", "LocalExecutor", "RayExecutor", "open_executor"]
