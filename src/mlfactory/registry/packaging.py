"""Models saved with skops, never pickle: only types on an explicit trusted list are loaded.

At save time the model's non-default types must come from scikit-learn, NumPy or SciPy, or be listed under
the model's ``trusted_types`` in the project file; the resulting list is stored with the version. At load
time the bytes are first verified against their SHA-256 (by the artifact store), then skops refuses any type
not on that stored list. skops does not sandbox NumPy functions inside a FunctionTransformer, so the trust
boundary is "artifacts this project wrote", which the hash check enforces.

A model holding a large vocabulary (a text vectorizer's ``vocabulary_``) is written as a *packed* artifact
(:mod:`mlfactory.registry.packed`): the skops archive of the model without its vocabularies, plus each
vocabulary as three flat arrays, in one zip, so saving and loading take time in proportion to its size
rather than one skops node per term. Every other model is a plain skops archive, as before; which one an
artifact is, is read from its first bytes, so versions saved before packing existed load unchanged.

A model whose final estimator is an XGBoost, LightGBM or CatBoost wrapper is a *native* artifact
(:mod:`mlfactory.registry.native`): the booster in its library's own format beside the rest of the pipeline,
saved as above; it too is told apart by its first bytes.

A model written in the project (a ``model:`` class) is a *project model* artifact
(:mod:`mlfactory.registry.project_models`): the files it saved (safetensors and JSON only) and its module's
text, each under its hash; told apart by its first bytes as well.
"""

from __future__ import annotations

from typing import Any

from mlfactory.errors import IntegrityError, TrainingError
from mlfactory.stores.artifacts import ArtifactStore

FLAVOR = "skops"  # plain or packed skops; told apart by the artifact's bytes (packed.is_packed)
FLAVORS = (FLAVOR,)
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.")


def _skops_artifact(estimator: Any) -> tuple[bytes, bytes]:
    """The artifact for a model skops can write (plain or packed) and the skops bytes whose types to audit."""
    import skops.io as sio  # slow to import (~1 s); only paid when a model is saved or loaded

    from mlfactory.registry import packed

    try:
        stripped = packed.strip(estimator)
        model_bytes = sio.dumps(stripped.estimator)
        artifact = packed.pack(stripped, model_bytes) if stripped.packed else model_bytes
        if artifact is None:  # a vocabulary is also held where loading could not put it back
            model_bytes = artifact = sio.dumps(estimator)
    except Exception as exc:  # skops raises a variety of errors for unsupported objects
        raise TrainingError(f"the model cannot be saved with skops: {exc}") from exc
    return artifact, model_bytes


def save_model(estimator: Any, artifacts: ArtifactStore, extra_trusted: list[str]) -> tuple[str, list[str]]:
    """Serialize a fitted estimator; returns (artifact digest, the types it needs trusted)."""
    import skops.io as sio

    from mlfactory.estimators.project_class import ProjectModel
    from mlfactory.registry import native, project_models

    if isinstance(estimator, ProjectModel):
        return artifacts.put_bytes(project_models.pack(estimator)), []

    parts = native.split(estimator)
    rest = estimator if parts is None else parts.head
    artifact, model_bytes = _skops_artifact(rest) if rest is not None else (None, None)
    needed = sio.get_untrusted_types(data=model_bytes) if model_bytes is not None else []
    refused = [t for t in needed if not t.startswith(TRUSTED_PREFIXES) and t not in extra_trusted]
    if refused:
        raise TrainingError(
            f"the model uses types outside scikit-learn, NumPy and SciPy: {refused}; if you trust them, "
            "list them under the model's trusted_types in mlfactory.yaml"
        )
    if parts is not None:
        artifact = native.pack(parts, artifact)
    assert artifact is not None  # a model is either a booster, skops-saved, or both
    return artifacts.put_bytes(artifact), sorted(needed)


def _load_skops(data: bytes, trusted: list[str], label: str) -> Any:
    """A plain or packed skops artifact, loaded after refusing any type not on the trusted list."""
    import skops.io as sio

    from mlfactory.registry import packed

    unpacked = packed.unpack(data, label) if packed.is_packed(data) else None
    model_bytes = data if unpacked is None else unpacked.skops_bytes
    untrusted = sorted(set(sio.get_untrusted_types(data=model_bytes)) - set(trusted))
    if untrusted:
        raise IntegrityError(
            f"{label} contains types it was not registered with: {untrusted}; refusing to load"
        )
    estimator = sio.loads(model_bytes, trusted=list(trusted))
    return estimator if unpacked is None else unpacked.restore(estimator)


def load_model(
    artifacts: ArtifactStore, digest: str, trusted: list[str], label: str, flavor: str = FLAVOR
) -> Any:
    """Load a verified artifact, refusing any type not on the list stored with the version."""
    from mlfactory.registry import native, project_models

    if flavor not in FLAVORS:
        raise IntegrityError(
            f"{label} was saved as '{flavor}', which this mlfactory cannot load "
            f"(it loads: {', '.join(FLAVORS)})"
        )
    data = artifacts.get_bytes(digest)  # raises IntegrityError when the bytes changed
    if project_models.is_project_model(data):
        return project_models.load(data, label)  # raises IntegrityError when an entry's bytes changed
    if not native.is_native(data):
        return _load_skops(data, trusted, label)
    booster = native.unpack(data, label)  # raises IntegrityError when an entry's bytes changed
    rest = None if booster.pipeline_bytes is None else _load_skops(booster.pipeline_bytes, trusted, label)
    return booster.restore(rest)
