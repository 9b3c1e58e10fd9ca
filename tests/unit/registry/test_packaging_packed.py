"""Text models: vocabularies saved as flat arrays beside skops, with the same verification and trust."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.feature_extraction import DictVectorizer
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from mlfactory.errors import IntegrityError
from mlfactory.registry import packed
from mlfactory.registry.packaging import load_model, save_model
from mlfactory.stores import LocalArtifactStore


def corpus(terms: int, docs: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Documents over ``terms`` words with Zipf-like frequencies, each word in at least two documents."""
    rng = np.random.default_rng(seed)
    words = np.array([f"t{i:x}" for i in range(terms)])
    p = 1.0 / np.arange(1, terms + 1)
    p /= p.sum()
    body = [rng.choice(words, size=30, p=p) for _ in range(docs)]
    for i, w in enumerate(words):  # min_df=2: every term appears in two documents
        body[i % docs] = np.append(body[i % docs], w)
        body[(i + 1) % docs] = np.append(body[(i + 1) % docs], w)
    y = rng.integers(0, 2, docs)
    return pd.DataFrame({"body": [" ".join(b) for b in body], "n": rng.normal(size=docs)}), y


def text_model(terms: int, *extra: tuple[str, object, object]) -> tuple[Pipeline, pd.DataFrame]:
    """mlfactory's own text preprocessing (training/fit.py) and a logistic regression."""
    x, y = corpus(terms)
    vectorizer = TfidfVectorizer(min_df=2, max_features=terms)
    pre = ColumnTransformer([("text_body", vectorizer, "body"), *extra])  # type: ignore[list-item]
    model = Pipeline([("preprocess", pre), ("model", LogisticRegression(max_iter=500))]).fit(x, y)
    return model, x


def entries(artifacts: LocalArtifactStore, digest: str) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(artifacts.get_bytes(digest))) as z:
        return z.namelist()


def vocabulary(model: Pipeline) -> dict[str, object]:
    return model.named_steps["preprocess"].named_transformers_["text_body"].vocabulary_  # type: ignore[no-any-return]


def test_saved_archive_does_not_grow_an_entry_per_term(artifacts: LocalArtifactStore) -> None:
    small, _ = text_model(1_500)
    large, _ = text_model(6_000)
    assert len(vocabulary(large)) == 6_000
    small_digest, _ = save_model(small, artifacts, [])
    large_digest, _ = save_model(large, artifacts, [])
    # plain skops wrote one .npy per vocabulary value: more than 6,000 entries for the large model
    assert entries(artifacts, large_digest) == entries(artifacts, small_digest)
    assert len(entries(artifacts, large_digest)) <= 5


def test_text_model_predicts_the_same_and_keeps_its_vocabulary(artifacts: LocalArtifactStore) -> None:
    model, x = text_model(3_000)
    before = vocabulary(model)
    digest, trusted = save_model(model, artifacts, [])
    assert vocabulary(model) is before  # the fitted model is not modified by saving
    loaded = load_model(artifacts, digest, trusted, "spam/1")
    assert (loaded.predict_proba(x) == model.predict_proba(x)).all()
    assert (loaded.predict(x) == model.predict(x)).all()
    after = vocabulary(loaded)
    assert list(after.items()) == list(before.items())  # same terms, indices and order
    assert {type(v) for v in after.values()} == {type(v) for v in before.values()}
    assert (loaded[0].get_feature_names_out() == model[0].get_feature_names_out()).all()


def test_numeric_and_tree_models_stay_plain_skops(artifacts: LocalArtifactStore) -> None:
    x = np.random.default_rng(0).normal(size=(80, 4))
    y = (x[:, 0] > 0).astype(int)
    for model in (
        make_pipeline(StandardScaler(), LogisticRegression()),
        HistGradientBoostingClassifier(max_iter=5),
    ):
        model.fit(x, y)
        digest, trusted = save_model(model, artifacts, [])
        data = artifacts.get_bytes(digest)
        assert not packed.is_packed(data)
        assert (sio.loads(data, trusted=trusted).predict(x) == model.predict(x)).all()  # any skops reader
        loaded = load_model(artifacts, digest, trusted, "m/1")
        assert (loaded.predict_proba(x) == model.predict_proba(x)).all()


def test_artifacts_saved_with_plain_skops_still_load(artifacts: LocalArtifactStore) -> None:
    model, x = text_model(1_200)
    data = sio.dumps(model)  # what versions registered before packing hold
    digest = artifacts.put_bytes(data)
    loaded = load_model(artifacts, digest, sio.get_untrusted_types(data=data), "spam/1", "skops")
    assert (loaded.predict_proba(x) == model.predict_proba(x)).all()


def test_tampered_packed_artifact_is_refused(artifacts: LocalArtifactStore) -> None:
    model, _ = text_model(1_200)
    digest, trusted = save_model(model, artifacts, [])
    path = artifacts.local_path(digest)
    data = bytearray(path.read_bytes())
    at = bytes(data).index(b"t1")  # a term in the vocabulary blob
    data[at : at + 2] = b"zz"
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="was modified"):
        load_model(artifacts, digest, trusted, "spam/1")


def double(x):  # type: ignore[no-untyped-def]
    return x * 2


def test_untrusted_type_in_a_packed_model_is_refused(artifacts: LocalArtifactStore) -> None:
    model, x = text_model(1_200, ("numeric", FunctionTransformer(double), ["n"]))
    name = f"{__name__}.double"
    digest, trusted = save_model(model, artifacts, [name])
    assert packed.is_packed(artifacts.get_bytes(digest))
    assert name in trusted
    with pytest.raises(IntegrityError, match="types it was not registered with"):
        load_model(artifacts, digest, [t for t in trusted if t != name], "spam/1")
    loaded = load_model(artifacts, digest, trusted, "spam/1")
    assert (loaded.predict_proba(x) == model.predict_proba(x)).all()


def _rewrite(data: bytes, name: str, content: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, content if info.filename == name else src.read(info))
    return out.getvalue()


def test_inconsistent_or_pickled_contents_are_refused_without_unpickling(
    artifacts: LocalArtifactStore,
) -> None:
    model, _ = text_model(1_200)
    digest, trusted = save_model(model, artifacts, [])
    good = artifacts.get_bytes(digest)
    pickled = io.BytesIO()
    np.save(pickled, np.array([object()] * 1_200, dtype=object), allow_pickle=True)
    floats = io.BytesIO()
    np.save(floats, np.zeros(1_200))
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(good)).read(packed.MANIFEST))
    manifest["vocabularies"][0]["occurrences"] = 2
    newer = {**manifest, "version": packed.FORMAT_VERSION + 1}
    cases = {
        "cannot be loaded when allow_pickle=False": _rewrite(
            good, "vocabulary-0/values.npy", pickled.getvalue()
        ),
        "integer array": _rewrite(good, "vocabulary-0/values.npy", floats.getvalue()),
        "expected 2": _rewrite(good, packed.MANIFEST, json.dumps(manifest).encode()),
        "format version": _rewrite(good, packed.MANIFEST, json.dumps(newer).encode()),
    }
    for message, data in cases.items():
        with pytest.raises(IntegrityError, match=message):
            load_model(artifacts, artifacts.put_bytes(data), trusted, "spam/1")


def test_unknown_flavor_is_refused(artifacts: LocalArtifactStore) -> None:
    model, _ = text_model(1_200)
    digest, trusted = save_model(model, artifacts, [])
    with pytest.raises(IntegrityError, match="'onnx', which this mlfactory cannot load"):
        load_model(artifacts, digest, trusted, "spam/1", "onnx")


def test_python_int_vocabularies_and_odd_terms_round_trip(artifacts: LocalArtifactStore) -> None:
    terms = [f"térm{i}" for i in range(1_500)] + ["", "a\x00b", "\ud800lone", "\U0001f600", "x y"]
    rows = [{t: 1.0, terms[(i + 1) % len(terms)]: 2.0} for i, t in enumerate(terms)]
    dv = DictVectorizer().fit(rows)
    assert {type(v) for v in dv.vocabulary_.values()} == {int}
    digest, trusted = save_model(dv, artifacts, [])
    loaded = load_model(artifacts, digest, trusted, "dv/1")
    assert list(loaded.vocabulary_.items()) == list(dv.vocabulary_.items())
    assert {type(v) for v in loaded.vocabulary_.values()} == {int}
    assert (loaded.transform(rows) != dv.transform(rows)).nnz == 0


def test_shared_vocabularies_stop_words_and_tuples(artifacts: LocalArtifactStore) -> None:
    x, _ = corpus(1_200)
    # a given vocabulary: the parameter and vocabulary_ are two dicts
    fixed = {f"t{i:x}": i for i in range(1_100)}
    vec = CountVectorizer(vocabulary=fixed).fit(x["body"])
    vec.alias_ = vec.vocabulary_  # the same dict from two places, and inside a tuple
    vec.pair_ = ("kept", vec.vocabulary_)
    vec.stop_words_ = {f"dropped{i}" for i in range(5_000)}  # scikit-learn < 1.9 keeps these; never needed
    digest, trusted = save_model(vec, artifacts, [])
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(artifacts.get_bytes(digest))).read(packed.MANIFEST))
    assert [v["occurrences"] for v in manifest["vocabularies"]] == [1, 3]
    assert manifest["dropped_stop_words"] == 5_000
    assert len(vec.stop_words_) == 5_000  # the original keeps its attribute
    loaded = load_model(artifacts, digest, trusted, "cv/1")
    assert loaded.vocabulary == fixed and loaded.vocabulary is not loaded.vocabulary_
    assert loaded.alias_ is loaded.vocabulary_ and loaded.pair_ == ("kept", loaded.vocabulary_)
    assert loaded.pair_[1] is loaded.vocabulary_
    assert loaded.stop_words_ is None
    assert (loaded.transform(x["body"]) != vec.transform(x["body"])).nnz == 0


def test_a_vocabulary_load_could_not_restore_falls_back_to_plain_skops(
    artifacts: LocalArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, x = text_model(1_200)
    monkeypatch.setattr(packed, "pack", lambda stripped, data: None)
    digest, trusted = save_model(model, artifacts, [])
    data = artifacts.get_bytes(digest)
    assert not packed.is_packed(data) and len(entries(artifacts, digest)) > 1_200
    assert (load_model(artifacts, digest, trusted, "spam/1").predict(x) == model.predict(x)).all()
