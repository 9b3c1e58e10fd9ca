"""A model version ready to serve: its input spec, a fast predict, and its micro-batcher."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlfactory.config import BatchingConfig
from mlfactory.entities import Signature
from mlfactory.errors import MLFactoryError
from mlfactory.estimators.predicting import predict_rows
from mlfactory.inputs import NUMERIC, Batch, InputSpec
from mlfactory.registry import LoadedModel, project_models
from mlfactory.registry.native import cap_threads
from mlfactory.serving.batching import MicroBatcher
from mlfactory.serving.compiled import compile_boosted, compile_numeric, takes_arrays
from mlfactory.serving.compiled_columns import compile_columns

if TYPE_CHECKING:
    from mlfactory.features.spec import ServiceSpec

log = logging.getLogger("mlfactory.serving")

# Estimators whose predict() is exactly the class with the highest predict_proba(), so one call gives both.
_ARGMAX_SAFE = frozenset(
    {
        "LogisticRegression",
        "HistGradientBoostingClassifier",
        "RandomForestClassifier",
        "ExtraTreesClassifier",
        "GradientBoostingClassifier",
        "DecisionTreeClassifier",
        "GaussianNB",
        "MultinomialNB",
        "BernoulliNB",
        "ComplementNB",
        "KNeighborsClassifier",
        "XGBClassifier",  # its binary predict() is proba > 0.5: a tie goes to the first class, as argmax
        "LabelledXGBClassifier",  # the same, answering in its labels (mlfactory.estimators.xgboost_labels)
        "LGBMClassifier",
        "CatBoostClassifier",
    }
)


class ModelUnavailableError(MLFactoryError):
    """A model is known but cannot answer now: not loaded yet, or its version failed to load."""

    http_status = 503


class ModelFailedError(MLFactoryError):
    """The model raised while predicting rows that passed the input checks (details go to the server log, a
    ``serving.predict_failed`` event records it): the server is well, this model cannot answer these rows,
    so 503 rather than the 500 of an unhandled fault."""

    http_status = 503


def _final_step(estimator: Any) -> Any:
    """The estimator that answers at the end of a pipeline, however deeply pipelines are nested."""
    steps = getattr(estimator, "steps", None)
    return _final_step(steps[-1][1]) if steps else estimator


def _probe_nan(estimator: Any, signature: Signature) -> bool:
    """Whether the model takes missing numbers: predict one row with NaN in every numeric input."""
    if not any(c.type in NUMERIC for c in signature.inputs):
        return True
    row: dict[str, Any] = {}
    for col in signature.inputs:
        row[col.name] = (
            [np.nan]
            if col.type in NUMERIC
            else ([pd.Timestamp("2020-01-01", tz="UTC")] if col.type == "datetime" else ["x"])
        )
    try:
        estimator.predict(pd.DataFrame(row))
    except Exception:
        return False
    return True


def _feature_service(signature: Signature) -> ServiceSpec | None:
    """The feature service the version looks up online, or None (no import of the feature store then)."""
    if not signature.feature_service:
        return None
    from mlfactory.features.spec import ServiceSpec

    return ServiceSpec.from_signature(signature)


class ServedVersion:
    """A loaded version plus everything the server needs to answer with it quickly."""

    def __init__(self, loaded: LoadedModel, batching: BatchingConfig | None = None) -> None:
        self.loaded = loaded
        self.version = loaded.version
        self.name = loaded.version.name
        self.number = loaded.version.version
        est = loaded.estimator
        cfg = batching or BatchingConfig()
        if cfg.native_threads is not None:  # a booster otherwise takes every core for each small request
            cap_threads(est, cfg.native_threads)
            project_models.cap_threads(est, cfg.native_threads)  # PyTorch's intra-op threads
        self.estimator = est
        self.classes = loaded.classes
        self.has_proba = hasattr(est, "predict_proba") and self.classes is not None
        self._argmax = self.has_proba and type(_final_step(est)).__name__ in _ARGMAX_SAFE
        self._class_array = np.asarray(self.classes, dtype=object) if self.classes is not None else None
        if self.classes is not None and all(isinstance(c, int | np.integer) for c in self.classes):
            self._class_array = np.asarray(self.classes, dtype=np.int64)
        self.spec = InputSpec(loaded.version.signature, allow_nan=_probe_nan(est, loaded.version.signature))
        self.features = _feature_service(loaded.version.signature)
        self._fast = (
            compile_numeric(est, self.spec.names)
            or compile_boosted(est, self.spec.names, allow_nan=self.spec.allow_nan)
            if self.spec.numeric_only and self.has_proba and self._argmax
            else None
        )
        self._fast_columns = (
            compile_columns(est, self.spec)
            if not self.spec.numeric_only and self.has_proba and self._argmax
            else None
        )
        self._arrays = (
            self._fast is None
            and self.spec.numeric_only
            and takes_arrays(est, self.spec.names, allow_nan=self.spec.allow_nan)
        )
        self.batcher = (
            MicroBatcher(
                self.predict_batch,
                max_rows=cfg.max_rows,
                max_wait=cfg.max_wait_ms / 1000,
                name=self.version.ref,
                threads=cfg.native_threads,
            )
            if cfg.enabled
            else None
        )

    @property
    def ref(self) -> str:
        return self.version.ref

    def same_inputs(self, other: ServedVersion) -> bool:
        """Whether rows checked for this version are exactly what ``other`` takes too."""
        mine = (self.spec.names, self.spec.kinds, self.spec.allow_nan, self.spec.rules, self.features)
        theirs = (other.spec.names, other.spec.kinds, other.spec.allow_nan, other.spec.rules, other.features)
        return mine == theirs

    def predict_batch(self, batch: Batch) -> tuple[np.ndarray, np.ndarray | None]:
        """Predictions and class probabilities for checked rows (synchronous)."""
        try:
            if self._fast is not None and batch.matrix is not None:
                proba = self._fast(batch.matrix)
                return self._class_array[np.argmax(proba, axis=1)], proba  # type: ignore[index]
            if self._fast_columns is not None:
                proba = self._fast_columns(batch.columns)
                return self._class_array[np.argmax(proba, axis=1)], proba  # type: ignore[index]
            rows = batch.matrix if self._arrays and batch.matrix is not None else batch.frame()
            if self._argmax:
                proba = self.estimator.predict_proba(rows)
                return self._class_array[np.argmax(proba, axis=1)], proba  # type: ignore[index]
            return predict_rows(self.estimator, rows, proba=self.has_proba)
        except Exception as exc:
            raise self.failed(exc, batch) from None

    def failed(self, exc: Exception, batch: Batch) -> ModelFailedError:
        """The error answered when the model raised on checked rows; the details go to the server log."""
        log.error("model %s failed on %d rows", self.ref, batch.n, exc_info=exc)
        return ModelFailedError(
            f"model {self.ref} failed to predict these rows ({type(exc).__name__}); the server log has the "
            "details"
        )

    async def predict(self, batch: Batch) -> tuple[np.ndarray, np.ndarray | None]:
        """Predict through the micro-batcher (or directly, when batching is off)."""
        if self.batcher is None:
            return self.predict_batch(batch)
        return await self.batcher.submit(batch)

    def close(self) -> None:
        if self.batcher is not None:
            self.batcher.close()
