"""Storage interfaces and their backends, chosen by URL."""

from mlfactory.stores.artifacts import ArtifactStore, LocalArtifactStore, open_artifact_store
from mlfactory.stores.metadata import MetadataStore, open_metadata_store

__all__ = [
    "ArtifactStore",
    "LocalArtifactStore",
    "MetadataStore",
    "open_artifact_store",
    "open_metadata_store",
]
