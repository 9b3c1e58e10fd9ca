"""The feature store: definitions, offline point-in-time retrieval, online stores, materialization, skew.

Declare entities, feature views and feature services in the project's ``features.module`` file; the same view
function computes the features for training (joined point-in-time) and for serving (materialized into the
online store).
"""

from mlfactory.features.compute import compute_view
from mlfactory.features.definitions import (
    Entity,
    FeatureSelection,
    FeatureService,
    FeatureView,
    feature_view,
    parse_ttl,
)
from mlfactory.features.enrich import NOT_FOUND, PRESENT, STALE, Lookup, enrich_records, lookup
from mlfactory.features.materialize import MaterializeResult, materialize_view
from mlfactory.features.offline import ViewTable, point_in_time_join, read_range
from mlfactory.features.online import OnlineRecord, OnlineStore, Watermark, entity_key, open_online_store
from mlfactory.features.repo import FeatureRepo, load_feature_repo
from mlfactory.features.skew import compare
from mlfactory.features.spec import ServiceSpec, ViewSpec
from mlfactory.features.store import FeatureStore, TrainingSet

__all__ = [
    "NOT_FOUND",
    "PRESENT",
    "STALE",
    "Entity",
    "FeatureRepo",
    "FeatureSelection",
    "FeatureService",
    "FeatureStore",
    "FeatureView",
    "Lookup",
    "MaterializeResult",
    "OnlineRecord",
    "OnlineStore",
    "ServiceSpec",
    "TrainingSet",
    "ViewSpec",
    "ViewTable",
    "Watermark",
    "compare",
    "compute_view",
    "enrich_records",
    "entity_key",
    "feature_view",
    "load_feature_repo",
    "lookup",
    "materialize_view",
    "open_online_store",
    "parse_ttl",
    "point_in_time_join",
    "read_range",
]
