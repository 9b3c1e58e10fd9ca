import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from mlfactory.errors import IntegrityError, TrainingError
from mlfactory.registry.packaging import load_model, save_model
from mlfactory.stores import LocalArtifactStore

X = np.random.default_rng(0).normal(size=(60, 3))
Y = (X[:, 0] > 0).astype(int)


def double(x):  # type: ignore[no-untyped-def]
    return x * 2


def test_pipeline_round_trip_predicts_the_same(artifacts: LocalArtifactStore) -> None:
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, Y)
    digest, trusted = save_model(model, artifacts, [])
    assert trusted == []
    loaded = load_model(artifacts, digest, trusted, "m/1")
    assert (loaded.predict_proba(X) == model.predict_proba(X)).all()


def test_sklearn_internal_types_are_trusted_and_recorded(artifacts: LocalArtifactStore) -> None:
    model = HistGradientBoostingClassifier(max_iter=5).fit(X, Y)
    digest, trusted = save_model(model, artifacts, [])
    assert trusted == ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]
    assert (load_model(artifacts, digest, trusted, "m/1").predict(X) == model.predict(X)).all()
    with pytest.raises(IntegrityError, match="types it was not registered with"):
        load_model(artifacts, digest, [], "m/1")


def test_foreign_types_need_explicit_trust(artifacts: LocalArtifactStore) -> None:
    model = make_pipeline(FunctionTransformer(double), LogisticRegression()).fit(X, Y)
    with pytest.raises(TrainingError, match="trusted_types"):
        save_model(model, artifacts, [])
    name = f"{__name__}.double"
    _digest, trusted = save_model(model, artifacts, [name])
    assert name in trusted
