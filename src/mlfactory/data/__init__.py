"""Data: read sources, infer and validate schemas, profile, and snapshot them as dataset versions."""

from mlfactory.data.ingest import IngestResult, content_hash, ingest, load_dataset
from mlfactory.data.profile import profile_frame
from mlfactory.data.schema import infer_schema, schema_from_declared, validate
from mlfactory.data.sources import read_source

__all__ = [
    "IngestResult",
    "content_hash",
    "infer_schema",
    "ingest",
    "load_dataset",
    "profile_frame",
    "read_source",
    "schema_from_declared",
    "validate",
]
