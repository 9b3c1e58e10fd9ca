"""Gradient-boosting models (XGBoost, LightGBM, CatBoost) saved in their library's own format, never pickle.

skops cannot audit a booster: the scikit-learn wrappers of these libraries hold a native model object that
only pickle would carry. Each library also writes its trees in a format of its own that holds data, not
code: XGBoost's JSON model, LightGBM's text model and CatBoost's ``cbm``. So a model whose final estimator
(a bare one, or the last step of a ``Pipeline``, nested ones included) is one of those wrappers is saved as
a *native* artifact, a zip (stored, uncompressed) of:

- ``mlfactory-native.json``, the manifest, always the first entry (so the format is recognised from the
  first bytes): the library and wrapper class, the SHA-256 of every other entry, the classes, and for
  LightGBM the wrapper's parameters and fitted state its text model does not hold;
- ``pipeline.skops``: the pipeline with the booster's step replaced by ``"passthrough"``, written as every
  other model is (plain or packed skops, so its types are audited against the version's trusted list);
  absent when the booster is the whole model;
- ``booster.json`` / ``booster.txt`` / ``booster.cbm``: the booster in its library's format.

Loading checks each entry against its hash in the manifest (the whole artifact's hash is checked by the
artifact store before), creates the wrapper named in the manifest from a fixed table of six classes, loads
the booster into it through the library's own loader and puts it back in its step.

A booster held anywhere else (a member of a ``VotingClassifier`` or ``StackingClassifier``) cannot be saved
this way, nor by skops: saving such a model fails with a :class:`~mlfactory.errors.TrainingError` naming the
booster and what to do instead.
"""

from __future__ import annotations

import copy
import functools
import importlib
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from mlfactory.errors import ConfigError, IntegrityError, TrainingError
from mlfactory.estimators.predicting import final_estimator
from mlfactory.registry.archive import opened, sha256, starts_with_entry, verified_entries, write_stored

MANIFEST = "mlfactory-native.json"
PIPELINE_ENTRY = "pipeline.skops"
FORMAT = "mlfactory-native-booster"
FORMAT_VERSION = 1


def _saved_by_library(estimator: Any, suffix: str, **options: Any) -> bytes:
    """The bytes the wrapper's own ``save_model`` writes (these libraries save to a path, not to memory)."""
    with tempfile.TemporaryDirectory(prefix="mlfactory-native-") as folder:
        path = Path(folder) / f"booster{suffix}"
        estimator.save_model(str(path), **options)
        return path.read_bytes()


def _lightgbm_state(estimator: Any) -> dict[str, Any]:
    """What a LightGBM wrapper needs besides its text model: its parameters and fitted attributes."""
    state = {
        "params": estimator.get_params(),
        "objective": estimator._objective,
        "n_features_in": int(estimator.n_features_in_),
        "feature_names": bool(estimator._fitted_with_feature_names),
    }
    if not isinstance(state["objective"], str):
        raise TrainingError("a LightGBM model with a custom objective function cannot be saved natively")
    return state


def _load_xgboost(cls: type, data: bytes, state: dict[str, Any], classes: np.ndarray | None) -> Any:
    labelled = classes is not None and not np.array_equal(classes, np.arange(len(classes)))
    if labelled:  # trained on other labels than 0..n-1: it answers in them (see estimators.xgboost_labels)
        from mlfactory.estimators.xgboost_labels import LabelledXGBClassifier

        cls = LabelledXGBClassifier
    estimator = cls()
    estimator.load_model(bytearray(data))
    return estimator.with_labels(classes) if labelled else estimator


def _load_lightgbm(cls: type, data: bytes, state: dict[str, Any], classes: np.ndarray | None) -> Any:
    import lightgbm
    from sklearn.preprocessing import LabelEncoder

    estimator = cls(**state["params"])
    booster = lightgbm.Booster(model_str=data.decode("utf-8"))
    estimator._Booster = booster
    estimator._n_features = booster.num_feature()
    estimator._n_features_in = state["n_features_in"]
    estimator._fitted_with_feature_names = state["feature_names"]
    estimator._objective = state["objective"]
    estimator._best_iteration = booster.best_iteration
    estimator._best_score = {}
    estimator._evals_result = {}
    if classes is not None:
        estimator._le = LabelEncoder()
        estimator._le.classes_ = classes
        estimator._class_map = {c: i for i, c in enumerate(classes)}
        estimator._classes = classes
        estimator._n_classes = len(classes)
    estimator.fitted_ = True
    return estimator


def _load_catboost(cls: type, data: bytes, state: dict[str, Any], classes: np.ndarray | None) -> Any:
    estimator = cls()
    estimator.load_model(blob=data, format="cbm")
    return estimator


def _cap_by_parameter(name: str) -> Callable[[Any, int], None]:
    return lambda estimator, threads: estimator.set_params(**{name: threads})


def _cap_catboost(estimator: Any, threads: int) -> None:
    """CatBoost's fitted parameters are frozen, and its predict calls take every core unless each is told
    (``thread_count=-1``). So the model's own ``predict`` and ``predict_proba`` become the class's methods
    with ``thread_count`` given: the model keeps its type (the server's fast paths read it), and capping
    it again replaces the cap rather than stacking one on another."""
    for name in ("predict", "predict_proba"):
        method = getattr(type(estimator), name, None)
        if method is not None:
            setattr(estimator, name, functools.partial(method, estimator, thread_count=threads))


@dataclass(frozen=True)
class Family:
    """How one library's wrappers are written and read back."""

    library: str  # the module its wrappers are imported from
    classes: tuple[str, ...]
    entry: str  # the booster's file in the archive
    dump: Callable[[Any], bytes]
    load: Callable[[type, bytes, dict[str, Any], np.ndarray | None], Any]
    cap: Callable[[Any, int], None]  # make a fitted wrapper predict on at most this many threads
    state: Callable[[Any], dict[str, Any]] = lambda _: {}


FAMILIES = {
    f.library: f
    for f in (
        Family(
            "xgboost",
            ("XGBClassifier", "XGBRegressor"),
            "booster.json",
            lambda e: _saved_by_library(e, ".json"),
            _load_xgboost,
            _cap_by_parameter("n_jobs"),
        ),
        Family(
            "lightgbm",
            ("LGBMClassifier", "LGBMRegressor"),
            "booster.txt",
            lambda e: e.booster_.model_to_string().encode("utf-8"),
            _load_lightgbm,
            _cap_by_parameter("n_jobs"),
            _lightgbm_state,
        ),
        Family(
            "catboost",
            ("CatBoostClassifier", "CatBoostRegressor"),
            "booster.cbm",
            lambda e: _saved_by_library(e, ".cbm", format="cbm"),
            _load_catboost,
            _cap_catboost,
        ),
    )
}


# saved as the XGBClassifier it extends: its labels are the manifest's classes (see _load_xgboost)
_LABELLED = ("mlfactory.estimators.xgboost_labels", "LabelledXGBClassifier")


def _wrapper(estimator: Any) -> tuple[Family, str] | None:
    """The family of a fitted wrapper and the library class it is saved as, from its type alone (no library
    is imported to tell); None for any other estimator."""
    cls = type(estimator)
    if (cls.__module__, cls.__name__) == _LABELLED:
        return FAMILIES["xgboost"], "XGBClassifier"
    family = FAMILIES.get(cls.__module__.partition(".")[0])
    return (family, cls.__name__) if family is not None and cls.__name__ in family.classes else None


def _holders(obj: Any) -> list[tuple[str, Any]]:
    """What inside ``obj`` may hold a wrapper, each with its place (``[0]`` or ``.attr``): the estimators,
    lists and tuples among a list's items or a scikit-learn object's attributes. Every scikit-learn
    composite keeps its members in a list or an attribute (a dict such as ``named_estimators_`` repeats
    them), so dicts are passed over, and with them a vocabulary's many entries."""
    if isinstance(obj, list | tuple):
        items: Any = enumerate(obj)
        place = "[{}]"
    elif hasattr(obj, "get_params") and hasattr(obj, "__dict__"):
        items = vars(obj).items()
        place = ".{}"
    else:
        return []
    return [
        (place.format(at), child)
        for at, child in items
        if isinstance(child, list | tuple) or hasattr(child, "get_params")
    ]


def _held_booster(obj: Any, where: str, depth: int = 0) -> tuple[str, Any] | None:
    """Where a wrapper sits inside ``obj`` (an ensemble's member, a transformer's step) and the wrapper;
    None when there is none. Walks scikit-learn objects' attributes and the containers they hold."""
    if _wrapper(obj) is not None:
        return where, obj
    if depth > 12:
        return None
    for at, child in _holders(obj):
        found = _held_booster(child, where + at, depth + 1)
        if found is not None:
            return found
    return None


def _refuse_held_booster(estimator: Any) -> None:
    held = _held_booster(estimator, "model")
    if held is not None:
        where, booster = held
        library = type(booster).__module__.partition(".")[0]
        raise TrainingError(
            f"the model holds {library}.{type(booster).__name__} at {where}, inside a "
            f"{type(final_estimator(estimator)).__name__}: a gradient-boosting model is saved in its "
            "library's own format only as the model's final estimator (alone, or as a Pipeline's last "
            "step), and skops cannot save it anywhere else without pickle, which mlfactory never uses. "
            "Make the booster the estimator of a model of its own, or use scikit-learn's "
            "HistGradientBoostingClassifier/Regressor inside the ensemble"
        )


def _placeholder(pipeline: Any, booster: Any) -> Any:
    """A copy of ``pipeline`` whose final step (in nested pipelines, the innermost's) is ``booster``;
    only the lists of steps on the way down are new, the other fitted steps are shared."""
    out = copy.copy(pipeline)
    name, last = pipeline.steps[-1]
    inner = _placeholder(last, booster) if isinstance(last, Pipeline) else booster
    out.steps = [*pipeline.steps[:-1], (name, inner)]
    return out


def _innermost(pipeline: Any) -> Any:
    """The pipeline whose last step is the model's final estimator (``pipeline`` itself unless nested)."""
    while isinstance(pipeline.steps[-1][1], Pipeline):
        pipeline = pipeline.steps[-1][1]
    return pipeline


@dataclass
class Split:
    """A model taken apart for saving: the pipeline around the booster, and the booster's wrapper."""

    head: Any | None  # the pipeline with "passthrough" as the booster's step; None for a bare booster
    step: str | None  # the name of the booster's step (in the innermost pipeline)
    booster: Any
    family: Family
    name: str  # the library's class the booster is saved as


def split(estimator: Any) -> Split | None:
    """``estimator`` taken apart when its final estimator is a gradient-boosting wrapper, else None.
    Raises TrainingError for a model holding a booster elsewhere (see :func:`_refuse_held_booster`)."""
    final = final_estimator(estimator)
    wrapper = _wrapper(final)
    if wrapper is None:
        _refuse_held_booster(estimator)
        return None
    family, name = wrapper
    if final is estimator:
        return Split(None, None, final, family, name)
    step = _innermost(estimator).steps[-1][0]
    return Split(_placeholder(estimator, "passthrough"), step, final, family, name)


def _classes(booster: Any) -> list[Any] | None:
    classes = getattr(booster, "classes_", None)
    return None if classes is None else np.asarray(classes).tolist()


def pack(parts: Split, pipeline_bytes: bytes | None) -> bytes:
    """The native artifact: the manifest, the pipeline's skops bytes (if any) and the booster's file."""
    family = parts.family
    try:
        booster_bytes = family.dump(parts.booster)
        state = family.state(parts.booster)
        entries = {family.entry: booster_bytes}
        if pipeline_bytes is not None:
            entries[PIPELINE_ENTRY] = pipeline_bytes
        manifest = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "library": family.library,
            "library_version": importlib.import_module(family.library).__version__,
            "estimator": parts.name,
            "step": parts.step,
            "classes": _classes(parts.booster),
            "state": state,
            "sha256": {name: sha256(data) for name, data in entries.items()},
        }
        manifest_bytes = json.dumps(manifest, indent=1).encode()
    except TrainingError:
        raise
    except Exception as exc:  # a library error, or parameters JSON cannot hold
        raise TrainingError(f"the {family.library} model cannot be saved in its own format: {exc}") from exc
    return write_stored([(MANIFEST, manifest_bytes), *entries.items()])


def is_native(data: bytes) -> bool:
    """Whether ``data`` is a native artifact: a zip whose first entry is its manifest."""
    return starts_with_entry(data, MANIFEST)


@dataclass
class Unpacked:
    """A native artifact opened and verified: the pipeline's skops bytes, and how to finish the model."""

    pipeline_bytes: bytes | None
    manifest: dict[str, Any]
    booster_bytes: bytes
    family: Family
    label: str

    def restore(self, head: Any | None) -> Any:
        """The model: the booster's wrapper rebuilt from its native file, put back into the pipeline."""
        m, family = self.manifest, self.family
        try:
            module = importlib.import_module(family.library)
        except ImportError:
            raise ConfigError(
                f"{self.label} is a {family.library} model and {family.library} is not installed here; "
                f"install it with `pip install 'mlfactory[{family.library}]'`"
            ) from None
        classes = None if m["classes"] is None else np.asarray(m["classes"])
        try:
            booster = family.load(getattr(module, m["estimator"]), self.booster_bytes, m["state"], classes)
        except Exception as exc:  # each library raises its own errors for a model it cannot read
            raise _bad(self.label, f"{family.library} could not read the booster: {exc}") from None
        restored = _classes(booster)
        if restored != m["classes"]:
            raise _bad(self.label, f"the booster's classes {restored} are not {m['classes']}")
        if head is None:
            return booster
        inner = _innermost(head)
        if inner.steps[-1] != (m["step"], "passthrough"):
            raise _bad(self.label, f"the pipeline does not end in a placeholder step '{m['step']}'")
        inner.steps = [*inner.steps[:-1], (m["step"], booster)]
        return head


def _bad(label: str, why: str) -> IntegrityError:
    return IntegrityError(f"{label}'s native model artifact is inconsistent ({why}); refusing to load")


def unpack(data: bytes, label: str) -> Unpacked:
    """Open a native artifact, checking its manifest and the hash of every entry."""
    archive, manifest = opened(
        data, MANIFEST, FORMAT, FORMAT_VERSION, "native", label, lambda why: _bad(label, why)
    )
    family = FAMILIES.get(manifest.get("library", ""))
    if family is None or manifest.get("estimator") not in family.classes:
        raise _bad(label, f"{manifest.get('library')}.{manifest.get('estimator')} is not a known booster")
    hashes = manifest.get("sha256")
    if not isinstance(hashes, dict) or family.entry not in hashes:
        raise _bad(label, f"{MANIFEST} has no hash for {family.entry}")
    entries = verified_entries(archive, MANIFEST, hashes, label, lambda why: _bad(label, why))
    return Unpacked(entries.get(PIPELINE_ENTRY), manifest, entries[family.entry], family, label)


def cap_threads(estimator: Any, threads: int) -> None:
    """Make a gradient-boosting model predict on at most ``threads`` threads (the server's native_threads:
    its libraries otherwise take every core for each call); any other model is left as it is."""
    final = final_estimator(estimator)
    wrapper = _wrapper(final)
    if wrapper is not None:
        wrapper[0].cap(final, threads)
