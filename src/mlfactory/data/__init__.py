"""Data: read sources, infer and validate schemas, profile, and snapshot them as dataset versions.

Reading and snapshotting live in :mod:`mlfactory.data.sources` and :mod:`mlfactory.data.ingest`, imported
where they are used. The names below are loaded on first use (PEP 562): importing a submodule such as
:mod:`mlfactory.data.text` runs this file first, and it should not bring pandas along by itself.
"""

from typing import TYPE_CHECKING

from mlfactory.lazy import lazy_names

if TYPE_CHECKING:
    from mlfactory.data.profile import profile_frame
    from mlfactory.data.schema import infer_schema, schema_from_declared, validate

# public name -> the module that defines it
_LAZY = {
    "infer_schema": "mlfactory.data.schema",
    "profile_frame": "mlfactory.data.profile",
    "schema_from_declared": "mlfactory.data.schema",
    "validate": "mlfactory.data.schema",
}


__getattr__ = lazy_names(__name__, _LAZY)


__all__ = [
    "infer_schema",
    "profile_frame",
    "schema_from_declared",
    "validate",
]
