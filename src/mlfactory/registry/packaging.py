"""Models saved with skops, never pickle: only types on an explicit trusted list are loaded.

At save time the model's non-default types must come from scikit-learn, NumPy or SciPy, or be listed under
the model's ``trusted_types`` in the project file; the resulting list is stored with the version. At load
time the bytes are first verified against their SHA-256 (by the artifact store), then skops refuses any type
not on that stored list. skops does not sandbox NumPy functions inside a FunctionTransformer, so the trust
boundary is "artifacts this project wrote", which the hash check enforces.
"""

from __future__ import annotations

from typing import Any

from mlfactory.errors import IntegrityError, TrainingError
from mlfactory.stores.artifacts import ArtifactStore

FLAVOR = "skops"
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.")


def save_model(estimator: Any, artifacts: ArtifactStore, extra_trusted: list[str]) -> tuple[str, list[str]]:
    """Serialize a fitted estimator; returns (artifact digest, the types it needs trusted)."""
    import skops.io as sio  # slow to import (~1 s); only paid when a model is saved or loaded

    try:
        data = sio.dumps(estimator)
    except Exception as exc:  # skops raises a variety of errors for unsupported objects
        raise TrainingError(f"the model cannot be saved with skops: {exc}") from exc
    needed = sio.get_untrusted_types(data=data)
    refused = [t for t in needed if not t.startswith(TRUSTED_PREFIXES) and t not in extra_trusted]
    if refused:
        raise TrainingError(
            f"the model uses types outside scikit-learn, NumPy and SciPy: {refused}; if you trust them, "
            "list them under the model's trusted_types in mlfactory.yaml"
        )
    return artifacts.put_bytes(data), sorted(needed)


def load_model(artifacts: ArtifactStore, digest: str, trusted: list[str], label: str) -> Any:
    """Load a verified artifact, refusing any type not on the list stored with the version."""
    import skops.io as sio

    data = artifacts.get_bytes(digest)  # raises IntegrityError when the bytes changed
    untrusted = sorted(set(sio.get_untrusted_types(data=data)) - set(trusted))
    if untrusted:
        raise IntegrityError(
            f"{label} contains types it was not registered with: {untrusted}; refusing to load"
        )
    return sio.loads(data, trusted=list(trusted))
