"""Gradient-boosting models saved in their library's own format: identical answers after loading, every byte
verified, and no pickle anywhere in the artifact or its loading."""

from __future__ import annotations

import io
import json
import pickle
import pickletools
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from mlfactory.errors import IntegrityError
from mlfactory.registry import native
from mlfactory.registry.archive import write_stored
from mlfactory.registry.packaging import load_model, save_model
from mlfactory.stores import LocalArtifactStore

ROWS = 400
WORDS = np.array(
    [
        "free",
        "offer",
        "win",
        "money",
        "meeting",
        "report",
        "lunch",
        "invoice",
        "project",
        "team",
        "cash",
        "prize",
    ]
)


def _frame(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"a": rng.normal(size=ROWS), "b": rng.normal(size=ROWS), "c": rng.normal(size=ROWS)})
    x.loc[rng.random(ROWS) < 0.05, "b"] = np.nan
    x["text"] = [" ".join(rng.choice(WORDS, size=6)) for _ in range(ROWS)]
    return x


X = _frame(0)
SCORE = X["a"] + 0.5 * X["b"].fillna(0) + X["text"].str.count("free|win|cash")
LABELS = {
    "binary": (SCORE.median() < SCORE).astype(int).to_numpy(),
    "multiclass": np.digitize(SCORE, np.quantile(SCORE, [0.33, 0.66])),
}

SMALL = {
    "xgboost": {"n_estimators": 20, "max_depth": 3, "n_jobs": 1},
    "lightgbm": {"n_estimators": 20, "num_leaves": 7, "n_jobs": 1, "verbose": -1},
    "catboost": {
        "iterations": 20,
        "depth": 3,
        "thread_count": 1,
        "verbose": False,
        "allow_writing_files": False,
    },
}
CLASSES = {
    "xgboost": ("XGBClassifier", "XGBRegressor"),
    "lightgbm": ("LGBMClassifier", "LGBMRegressor"),
    "catboost": ("CatBoostClassifier", "CatBoostRegressor"),
}
LIBRARIES = list(CLASSES)


def _booster(library: str, *, regressor: bool = False) -> Any:
    """A small unfitted model of ``library`` (the test is skipped when the library is not installed)."""
    module = pytest.importorskip(library)
    return getattr(module, CLASSES[library][regressor])(**SMALL[library])


def _pipeline(final: Any) -> Pipeline:
    pre = ColumnTransformer(
        [
            (
                "numeric",
                Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())]),
                ["a", "b", "c"],
            ),
            ("text", TfidfVectorizer(), "text"),
        ],
        sparse_threshold=0,  # CatBoost takes dense rows only
    )
    return Pipeline([("preprocess", pre), ("model", final)])


def _entries(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {name: z.read(name) for name in z.namelist()}


def _no_pickle(data: bytes, name: str) -> None:
    """No pickle stream inside ``data``: a pickle ends in STOP and disassembles; native files and skops'
    JSON and ``.npy`` files (saved with allow_pickle=False) never do."""
    if name.endswith(".skops") or zipfile.is_zipfile(io.BytesIO(data)):
        for inner, content in _entries(data).items():
            _no_pickle(content, inner)
        return
    if name.endswith(".npy"):
        assert np.lib.format.read_array(io.BytesIO(data), allow_pickle=False) is not None
        return
    with pytest.raises(ValueError):  # an unknown opcode, or no STOP before the end
        list(pickletools.genops(io.BytesIO(data)))


@pytest.fixture
def no_unpickling(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Loading fails loudly if anything unpickles."""

    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("pickle was used to load a model")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    yield


@pytest.mark.parametrize("task", ["binary", "multiclass"])
@pytest.mark.parametrize("library", LIBRARIES)
def test_classifier_round_trip_answers_identically_without_pickle(
    library: str, task: str, artifacts: LocalArtifactStore, no_unpickling: None
) -> None:
    y = LABELS[task]
    model = _pipeline(_booster(library)).fit(X, y)
    digest, trusted = save_model(model, artifacts, [])
    data = artifacts.get_bytes(digest)
    assert native.is_native(data)
    entries = _entries(data)
    manifest = json.loads(entries[native.MANIFEST])
    assert manifest["library"] == library
    assert manifest["classes"] == sorted(set(y.tolist()))
    assert set(entries) == {native.MANIFEST, native.PIPELINE_ENTRY, native.FAMILIES[library].entry}
    for name, content in entries.items():
        _no_pickle(content, name)

    loaded = load_model(artifacts, digest, trusted, "m/1")
    fresh = _frame(1)
    assert type(loaded.steps[-1][1]) is type(model.steps[-1][1])
    assert list(loaded.classes_) == list(model.classes_)
    np.testing.assert_array_equal(loaded.predict(fresh), model.predict(fresh))
    np.testing.assert_array_equal(loaded.predict_proba(fresh), model.predict_proba(fresh))


@pytest.mark.parametrize("library", LIBRARIES)
def test_regressor_round_trip_answers_identically(
    library: str, artifacts: LocalArtifactStore, no_unpickling: None
) -> None:
    model = _pipeline(_booster(library, regressor=True)).fit(X, SCORE.to_numpy())
    digest, trusted = save_model(model, artifacts, [])
    loaded = load_model(artifacts, digest, trusted, "m/1")
    fresh = _frame(1)
    np.testing.assert_array_equal(loaded.predict(fresh), model.predict(fresh))


@pytest.mark.parametrize("library", LIBRARIES)
def test_a_bare_booster_is_saved_without_a_pipeline(library: str, artifacts: LocalArtifactStore) -> None:
    numeric = X[["a", "b", "c"]]
    model = _booster(library).fit(numeric, LABELS["multiclass"])
    digest, trusted = save_model(model, artifacts, [])
    assert trusted == []
    assert native.PIPELINE_ENTRY not in _entries(artifacts.get_bytes(digest))
    loaded = load_model(artifacts, digest, trusted, "m/1")
    fresh = _frame(1)[["a", "b", "c"]]
    np.testing.assert_array_equal(loaded.predict_proba(fresh), model.predict_proba(fresh))


def _rewritten(data: bytes, name: str, change: Callable[[bytes], bytes]) -> bytes:
    """The artifact with one entry's bytes changed and everything else (the manifest too) kept."""
    entries = _entries(data).items()
    return write_stored((entry, change(content) if entry == name else content) for entry, content in entries)


@pytest.mark.parametrize("library", LIBRARIES)
def test_a_tampered_booster_is_refused(library: str, artifacts: LocalArtifactStore) -> None:
    model = _pipeline(_booster(library)).fit(X, LABELS["binary"])
    digest, trusted = save_model(model, artifacts, [])
    data = artifacts.get_bytes(digest)
    entry = native.FAMILIES[library].entry
    # stored under its own digest, so only the manifest's hash of the booster can tell
    tampered = artifacts.put_bytes(_rewritten(data, entry, lambda b: b[:-40] + bytes(40)))
    with pytest.raises(IntegrityError, match=f"{entry} does not match the hash"):
        load_model(artifacts, tampered, trusted, "m/1")
    # the stored file changed in place: the artifact store's own check refuses it first
    path = artifacts.local_path(digest)
    path.write_bytes(_rewritten(data, entry, lambda b: b.replace(b"0", b"1", 1)))
    with pytest.raises(IntegrityError):
        load_model(artifacts, digest, trusted, "m/1")


def test_a_tampered_pipeline_is_refused(artifacts: LocalArtifactStore) -> None:
    model = _pipeline(_booster("xgboost")).fit(X, LABELS["binary"])
    digest, trusted = save_model(model, artifacts, [])
    data = _rewritten(artifacts.get_bytes(digest), native.PIPELINE_ENTRY, lambda b: b + b"\0")
    with pytest.raises(IntegrityError, match="pipeline.skops does not match the hash"):
        load_model(artifacts, artifacts.put_bytes(data), trusted, "m/1")


def test_an_unknown_booster_class_is_refused(artifacts: LocalArtifactStore) -> None:
    model = _pipeline(_booster("lightgbm")).fit(X, LABELS["binary"])
    digest, trusted = save_model(model, artifacts, [])

    def other_class(b: bytes) -> bytes:
        return json.dumps({**json.loads(b), "estimator": "Booster"}).encode()

    data = _rewritten(artifacts.get_bytes(digest), native.MANIFEST, other_class)
    with pytest.raises(IntegrityError, match="lightgbm.Booster is not a known booster"):
        load_model(artifacts, artifacts.put_bytes(data), trusted, "m/1")


@pytest.mark.parametrize(("library", "parameter"), [("xgboost", "n_jobs"), ("lightgbm", "n_jobs")])
def test_cap_threads_sets_the_library_thread_parameter(library: str, parameter: str) -> None:
    model = _pipeline(_booster(library)).fit(X, LABELS["binary"])
    native.cap_threads(model, 3)
    assert model.steps[-1][1].get_params()[parameter] == 3
