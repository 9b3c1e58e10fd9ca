"""Data: read sources, infer and validate schemas, profile, and snapshot them as dataset versions.

Reading and snapshotting live in :mod:`mlfactory.data.sources` and :mod:`mlfactory.data.ingest`, imported
where they are used: monitoring, which profiles and checks, does not load them.
"""

from mlfactory.data.profile import profile_frame
from mlfactory.data.schema import infer_schema, schema_from_declared, validate

__all__ = [
    "infer_schema",
    "profile_frame",
    "schema_from_declared",
    "validate",
]
