"""How a model that declares a feature service is trained: its inputs are the request columns of its project
file plus the service's features, and its signature says which come from where."""

from __future__ import annotations

from dataclasses import replace

from mlfactory.config import FeaturesConfig, ModelConfig
from mlfactory.entities import NUMERIC_TYPES, Signature
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


def annotate_signature(signature: Signature, spec: ServiceSpec) -> Signature:
    """The signature with each input marked as coming from the store (typed as the store has it) or the
    request, and the service recorded for serving."""
    store = spec.features
    inputs = tuple(
        replace(col, type=store[col.name], source="store")
        if col.name in store
        else replace(col, source="request")
        for col in signature.inputs
    )
    return replace(signature, inputs=inputs, feature_service=spec, entity_keys=tuple(spec.join_keys))
