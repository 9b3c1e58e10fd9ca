"""A package's public names loaded on first use (PEP 562).

A package lists each name with the module that defines it and sets ``__getattr__ = lazy_names(__name__,
homes)``; importing the package then costs nothing until a name is asked for, so a command imports only the
modules it runs. The names are still imported under ``TYPE_CHECKING`` for the type checker.
"""

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_names(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` giving each name in ``homes`` from its module, imported on first use."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(home), name)

    return __getattr__
