"""Model versions, aliases and their history, safe packaging and loading."""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from mlfactory.entities import PRODUCTION
from mlfactory.registry.registry import ModelRef, Registry

if TYPE_CHECKING:
    from mlfactory.registry.loaded import LoadedModel
    from mlfactory.registry.packaging import FLAVOR, save_model

# these pull in numpy and pandas: loaded on first use, so listing versions and moving aliases stay light
_LAZY = {
    "FLAVOR": "mlfactory.registry.packaging",
    "LoadedModel": "mlfactory.registry.loaded",
    "save_model": "mlfactory.registry.packaging",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_LAZY[name]), name)


__all__ = ["FLAVOR", "PRODUCTION", "LoadedModel", "ModelRef", "Registry", "save_model"]
