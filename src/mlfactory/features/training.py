"""How a model that declares a feature service is trained: its inputs are the request columns of its project
file plus the service's features, and its signature says which come from where."""

from __future__ import annotations

from typing import Any

from mlfactory.config import FeaturesConfig, ModelConfig
from mlfactory.entities import NUMERIC_TYPES
from mlfactory.features.spec import ServiceSpec


def with_service_features(model: ModelConfig, spec: ServiceSpec) -> ModelConfig:
    """The model's settings with the service's features added to its inputs by type."""
    f = model.features
    feats = spec.features
    update = FeaturesConfig(
        numeric=[*f.numeric, *(n for n, t in feats.items() if t in NUMERIC_TYPES)],
        categorical=[*f.categorical, *(n for n, t in feats.items() if t == "category")],
        text=[*f.text, *(n for n, t in feats.items() if t == "text")],
    )
    return model.model_copy(update={"features": update})


def annotate_signature(signature: dict[str, Any], spec: ServiceSpec) -> None:
    """Mark each input as coming from the store or the request, and record the service for serving."""
    store = spec.features
    for col in signature["inputs"]:
        if col["name"] in store:
            col["type"] = store[col["name"]]
            col["source"] = "store"
        else:
            col["source"] = "request"
    signature["feature_service"] = spec.to_dict()
    signature["entity_keys"] = spec.join_keys
