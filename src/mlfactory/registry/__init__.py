"""Model versions, aliases and their history, safe packaging and loading."""

from mlfactory.registry.loaded import LoadedModel
from mlfactory.registry.packaging import FLAVOR, save_model
from mlfactory.registry.registry import PRODUCTION, ModelRef, Registry

__all__ = ["FLAVOR", "PRODUCTION", "LoadedModel", "ModelRef", "Registry", "save_model"]
