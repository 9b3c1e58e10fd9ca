"""Model versions, aliases and their history, safe packaging and loading."""

from typing import TYPE_CHECKING

from mlfactory.entities import PRODUCTION
from mlfactory.lazy import lazy_names
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


__getattr__ = lazy_names(__name__, _LAZY)


__all__ = ["FLAVOR", "PRODUCTION", "LoadedModel", "ModelRef", "Registry", "save_model"]
