"""A model version as an ONNX graph, trusted only after it answered like the model on the version's holdout.

The conversion goes through skl2onnx, with onnxmltools' converters registered for XGBoost and LightGBM
wrappers and CatBoost's own ONNX export of its booster for CatBoost's (its tree node wired into the graph).
Two of skl2onnx's gaps are filled here: a one-hot encoder with infrequent categories (the default
preprocessing's ``min_frequency=2``), and HistGradientBoosting trees, whose converter writes flags onnx
refuses. A pipeline that starts with a ColumnTransformer (the default preprocessing) takes one ``[n, 1]``
input per signature column: numbers as float32, categories and text as strings; any other model takes one
``[n, k]`` float32 matrix of its (all numeric) inputs.

Three things are adjusted so the graph computes what the model computes, and the check below decides
whether it does:

- a string imputer fitted for missing values (NaN) fills the empty string instead, since an ONNX string
  tensor holds no NaN: missing categories are fed as ``""`` (a category that *is* ``""`` would then be
  imputed too; the check sees it);
- a TF-IDF vectorizer tokenizes with its own ``token_pattern`` (skl2onnx's default pattern keeps one-letter
  tokens and so makes bigrams scikit-learn never makes); ONNX Runtime's regular expressions (RE2) read
  ``\\w`` as ASCII only, so text with accented letters tokenizes differently, and the check refuses it;
- lower-casing runs in the ``C.UTF-8`` locale, present on every glibc system (ONNX's default, ``en_US.UTF-8``,
  often is not installed, and a graph that cannot open would be useless there).

Numbers enter the graph as float32 (ONNX Runtime's imputer takes no doubles), so a tree whose split lies
exactly on a value the float64 preprocessing puts there (an imputed median, say) can send a row the other
way; and skl2onnx's tree converters do not carry scikit-learn's routing of missing numbers. Both show up as
differing rows, and the check refuses them.

The check: on the given rows, predicted classes equal, and every class probability (a regressor's
prediction) within ``tolerance`` of the model's; otherwise :class:`~mlfactory.errors.ExportError` naming how
many rows differ and the first of them, row index and both answers.
"""

from __future__ import annotations

import contextlib
import copy
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.preprocessing import OneHotEncoder

from mlfactory.entities import NUMERIC_TYPES, Signature
from mlfactory.errors import ConfigError, ExportError
from mlfactory.estimators.predicting import predict_rows
from mlfactory.inputs import InputSpec, frame_payload

TARGET_OPSET = {"": 18, "ai.onnx.ml": 3}  # onnxmltools' tree converters write ai.onnx.ml 3 at most
LOCALE = "C.UTF-8"
SHOWN = 5  # differing rows named in a refusal
LINEAGE_KEY = "onnx"  # a version served as ONNX keeps its graph's digest and check here (lineage extra)


def _libraries() -> Any:
    """skl2onnx, or ConfigError saying how to install the ONNX extra."""
    try:
        import onnxruntime  # noqa: F401
        import skl2onnx
    except ImportError:
        raise ConfigError(
            "exporting or serving ONNX needs onnx, onnxruntime and skl2onnx; install them with "
            "`pip install 'mlfactory[onnx]'`"
        ) from None
    return skl2onnx


class _IntegerFlags:
    """A conversion container that writes tree nodes' missing-value flags as integers: skl2onnx's
    HistGradientBoosting converter gives leaves a Python ``False`` there, which onnx refuses in an integer
    list; every other call goes to the container unchanged."""

    def __init__(self, container: Any) -> None:
        self._container = container

    def __getattr__(self, name: str) -> Any:
        return getattr(self._container, name)

    def add_node(self, *args: Any, **kwargs: Any) -> Any:
        flags = kwargs.get("nodes_missing_value_tracks_true")
        if flags is not None:
            kwargs["nodes_missing_value_tracks_true"] = [int(f) for f in flags]
        return self._container.add_node(*args, **kwargs)


def _with_integer_flags(convert: Any, scope: Any, operator: Any, container: Any) -> None:
    convert(scope, operator, _IntegerFlags(container))


def _register_hist_gradient_boosting() -> None:
    """skl2onnx's own HistGradientBoosting converters, given a container that writes integer flags."""
    from skl2onnx import update_registered_converter
    from skl2onnx._supported_operators import sklearn_operator_name_map
    from skl2onnx.common._registration import _converter_pool, get_shape_calculator
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    for cls in (HistGradientBoostingClassifier, HistGradientBoostingRegressor):
        alias = sklearn_operator_name_map[cls]
        registered = _converter_pool[alias]
        fixed = functools.partial(_with_integer_flags, registered._fct)
        options = registered.get_allowed_options()
        update_registered_converter(cls, alias, get_shape_calculator(alias), fixed, options=options)


def _convert_catboost(scope: Any, operator: Any, container: Any) -> None:
    """CatBoost's own ONNX export of the booster (its tree ensemble node), wired to this graph's input and
    outputs; a classifier's ZipMap after it is left out, as for every other classifier here."""
    from catboost.utils import convert_to_onnx_object
    from onnx.helper import get_attribute_value

    exported = convert_to_onnx_object(operator.raw_operator)
    node = exported.graph.node[0]
    version = {d.domain: d.version for d in exported.opset_import}.get(node.domain)
    container.add_node(
        node.op_type,
        [operator.inputs[0].full_name],
        [o.full_name for o in operator.outputs],
        op_domain=node.domain,
        op_version=version,
        **{a.name: get_attribute_value(a) for a in node.attribute},
    )


def _parse_catboost_classifier(scope: Any, model: Any, inputs: Any, custom_parsers: Any = None) -> Any:
    """A CatBoost classifier's outputs, label and probabilities (skl2onnx cannot tell it is a classifier)."""
    from skl2onnx._parse import _get_sklearn_operator_name
    from skl2onnx.common.data_types import Int64TensorType, StringTensorType, guess_tensor_type

    operator = scope.declare_local_operator(_get_sklearn_operator_name(type(model)), model)
    operator.inputs = inputs
    strings = np.asarray(model.classes_).dtype.kind in "OUS"
    label = scope.declare_local_variable("label", StringTensorType() if strings else Int64TensorType())
    proba = scope.declare_local_variable("probabilities", guess_tensor_type(inputs[0].type))
    operator.outputs.extend([label, proba])
    return operator.outputs


def _booster_converters() -> list[tuple[type, str, Any, bool]]:
    """(wrapper class, converter name, converter, whether a classifier) for each gradient-boosting wrapper
    installed: onnxmltools' converters for XGBoost and LightGBM, CatBoost's own export for CatBoost."""
    found: list[tuple[type, str, Any, bool]] = []
    with contextlib.suppress(ImportError):
        import xgboost
        from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost

        from mlfactory.estimators.xgboost_labels import LabelledXGBClassifier

        found += [
            (xgboost.XGBClassifier, "XGBoostXGBClassifier", convert_xgboost, True),
            (LabelledXGBClassifier, "MlfactoryLabelledXGBClassifier", convert_xgboost, True),
            (xgboost.XGBRegressor, "XGBoostXGBRegressor", convert_xgboost, False),
        ]
    with contextlib.suppress(ImportError):
        import lightgbm
        from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm

        found += [
            (lightgbm.LGBMClassifier, "LightGbmLGBMClassifier", convert_lightgbm, True),
            (lightgbm.LGBMRegressor, "LightGbmLGBMRegressor", convert_lightgbm, False),
        ]
    with contextlib.suppress(ImportError):
        import catboost

        found += [
            (catboost.CatBoostClassifier, "CatBoostCatBoostClassifier", _convert_catboost, True),
            (catboost.CatBoostRegressor, "CatBoostCatBoostRegressor", _convert_catboost, False),
        ]
    return found


@functools.cache
def _register_converters() -> None:
    """Teach skl2onnx the gradient-boosting wrappers installed, one-hot encoders with infrequent categories,
    and integer flags for HistGradientBoosting trees."""
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    _register_hist_gradient_boosting()
    update_registered_converter(
        _InfrequentOneHotEncoder, "MlfactoryInfrequentOneHotEncoder", _infrequent_shape, _convert_infrequent
    )
    options = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    for cls, name, convert, classifier in _booster_converters():
        if not classifier:
            update_registered_converter(cls, name, calculate_linear_regressor_output_shapes, convert)
            continue
        parser = _parse_catboost_classifier if convert is _convert_catboost else None
        update_registered_converter(
            cls, name, calculate_linear_classifier_output_shapes, convert, parser=parser, options=options
        )


def _infrequent_shape(operator: Any) -> None:
    from skl2onnx.common.data_types import FloatTensorType

    width = sum(len(c) for c in _frequent_layout(operator.raw_operator))
    operator.outputs[0].type = FloatTensorType([operator.inputs[0].get_first_dimension(), width])


def _frequent_layout(encoder: Any) -> list[list[str]]:
    """Each input's output columns as scikit-learn lays them out: its frequent categories in order, then one
    column for all its infrequent ones (when it has any)."""
    layout = []
    for j, categories in enumerate(encoder.categories_):
        rare = {
            str(c)
            for c in (encoder.infrequent_categories_[j] if encoder.infrequent_categories_ else None) or []
        }
        layout.append(
            [str(c) for c in categories if str(c) not in rare] + (["infrequent_sklearn"] if rare else [])
        )
    return layout


def _convert_infrequent(scope: Any, operator: Any, container: Any) -> None:
    """A one-hot encoder with infrequent categories (``min_frequency``), which skl2onnx's converter refuses:
    per input a LabelEncoder gives each category its output column (an infrequent one the shared column, an
    unknown one none) and OneHot spreads it; the inputs' blocks are concatenated."""
    from onnx import TensorProto

    encoder = operator.raw_operator
    if encoder.drop_idx_ is not None:
        raise NotImplementedError("a one-hot encoder with drop and infrequent categories")
    x, blocks = operator.inputs[0].full_name, []
    on_off = scope.get_unique_variable_name("on_off")
    container.add_initializer(on_off, TensorProto.FLOAT, [2], [0.0, 1.0])
    for j, (categories, layout) in enumerate(
        zip(encoder.categories_, _frequent_layout(encoder), strict=True)
    ):
        keys = [str(c) for c in categories]
        position = {c: i for i, c in enumerate(layout)}
        values = [position.get(k, len(layout) - 1) for k in keys]  # an infrequent one: the last column
        rare = layout[-1] == "infrequent_sklearn"
        unknown = len(layout) - 1 if rare and encoder.handle_unknown == "infrequent_if_exist" else len(layout)
        names = {
            n: scope.get_unique_variable_name(f"{n}{j}")
            for n in ("at", "col", "code", "flat", "depth", "shape", "block")
        }
        container.add_initializer(names["at"], TensorProto.INT64, [1], [j])
        container.add_initializer(names["depth"], TensorProto.INT64, [1], [len(layout)])
        container.add_initializer(names["shape"], TensorProto.INT64, [1], [-1])
        container.add_node("ArrayFeatureExtractor", [x, names["at"]], names["col"], op_domain="ai.onnx.ml")
        container.add_node(
            "LabelEncoder",
            names["col"],
            names["code"],
            op_domain="ai.onnx.ml",
            op_version=2,
            keys_strings=keys,
            values_int64s=values,
            default_int64=unknown,  # out of range (len(layout)): a row of zeros
        )
        container.add_node("Reshape", [names["code"], names["shape"]], names["flat"])
        container.add_node("OneHot", [names["flat"], names["depth"], on_off], names["block"], axis=-1)
        blocks.append(names["block"])
    container.add_node("Concat", blocks, operator.outputs[0].full_name, axis=1)


class _InfrequentOneHotEncoder(OneHotEncoder):  # type: ignore[misc]
    """What a conversion copy makes of a one-hot encoder with infrequent categories (its ``__class__``, see
    :func:`_conversion_copy`), so that only those take the converter above."""


def _steps(estimator: Any) -> list[Any]:
    """Every fitted step of the model, depth first: pipeline steps, a ColumnTransformer's transformers."""
    if isinstance(estimator, str):  # "passthrough" / "drop"
        return []
    found = [estimator]
    for _, step in getattr(estimator, "steps", None) or []:
        found += _steps(step)
    for _, transformer, _ in getattr(estimator, "transformers_", None) or []:
        found += _steps(transformer)
    return found


def _unconvertible(estimator: Any) -> list[str]:
    """The step types skl2onnx has no converter for, as ``module.Class``."""
    from skl2onnx._supported_operators import sklearn_operator_name_map

    missing = {
        f"{type(s).__module__.partition('.')[0]}.{type(s).__name__}"
        for s in _steps(estimator)
        if type(s) not in sklearn_operator_name_map
        and type(s).__name__ not in ("Pipeline", "ColumnTransformer")
    }
    return sorted(missing)


def _per_column(estimator: Any) -> bool:
    """Whether the model takes named columns (its first step is a ColumnTransformer) rather than a matrix."""
    first = estimator.steps[0][1] if hasattr(estimator, "steps") else estimator
    return type(first).__name__ == "ColumnTransformer"


def _initial_types(estimator: Any, signature: Signature) -> list[tuple[str, Any]]:
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    odd = [
        f"{c.name} ({c.type})" for c in signature.inputs if c.type not in (*NUMERIC_TYPES, "category", "text")
    ]
    if odd:
        raise ExportError(f"ONNX takes numbers and strings; these inputs are neither: {', '.join(odd)}")
    if _per_column(estimator):
        return [
            (c.name, FloatTensorType([None, 1]) if c.type in NUMERIC_TYPES else StringTensorType([None, 1]))
            for c in signature.inputs
        ]
    strings = [c.name for c in signature.inputs if c.type not in NUMERIC_TYPES]
    if strings:
        raise ExportError(
            f"the model takes its columns as one matrix, so ONNX can take numbers only, not {strings}; "
            "train it with preprocess: true (the default) to export it"
        )
    return [("input", FloatTensorType([None, len(signature.inputs)]))]


def _conversion_copy(estimator: Any, classifier: bool) -> tuple[Any, dict[int, dict[str, Any]]]:
    """A copy of the model to convert, string imputers filling ``""``, and the converter options: no ZipMap
    on the classifier (plain probability columns), each TF-IDF vectorizer's own token pattern."""
    model = copy.deepcopy(estimator)
    options: dict[int, dict[str, Any]] = {}
    for step in _steps(model):
        name = type(step).__name__
        if isinstance(step, OneHotEncoder) and any(c is not None for c in step.infrequent_categories_ or []):
            step.__class__ = _InfrequentOneHotEncoder
        elif name == "SimpleImputer" and isinstance(getattr(step, "fill_value", None), str):
            step.missing_values = ""
        elif name in ("TfidfVectorizer", "CountVectorizer") and step.token_pattern:
            options[id(step)] = {"tokenexp": step.token_pattern.removeprefix("(?u)")}
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    if classifier:
        options[id(final)] = {**options.get(id(final), {}), "zipmap": False}
    return model, options


def _with_locale(graph: Any) -> None:
    """Every StringNormalizer lower-cases in :data:`LOCALE` (see the module docstring)."""
    from onnx import helper

    for node in graph.node:
        if node.op_type == "StringNormalizer":
            kept = [a for a in node.attribute if a.name != "locale"]
            del node.attribute[:]
            node.attribute.extend([*kept, helper.make_attribute("locale", LOCALE)])


def convert(estimator: Any, signature: Signature, label: str) -> bytes:
    """The model as ONNX bytes; ExportError naming the step types no converter exists for."""
    skl2onnx = _libraries()
    _register_converters()
    missing = _unconvertible(estimator)
    if missing:
        raise ExportError(
            f"{label} cannot be exported to ONNX: no converter for {', '.join(missing)}; serve it natively "
            "or use a supported estimator"
        )
    types = _initial_types(estimator, signature)
    model, options = _conversion_copy(estimator, signature.task == "classification")
    try:
        onx = skl2onnx.convert_sklearn(model, initial_types=types, options=options, target_opset=TARGET_OPSET)
    except Exception as exc:  # skl2onnx raises many types for a model it cannot express
        reason = (str(exc).splitlines() or [""])[0][:300]  # some dump a whole node's attributes
        raise ExportError(f"{label} cannot be exported to ONNX: {type(exc).__name__}: {reason}") from None
    _with_locale(onx.graph)
    data: bytes = onx.SerializeToString()
    return data


class OnnxRunner:
    """An ONNX Runtime session over an exported model, answering as :func:`predict_rows` does."""

    def __init__(self, data: bytes, *, threads: int | None = None) -> None:
        _libraries()
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        self.inputs = [(i.name, i.type) for i in self.session.get_inputs()]
        self.classifier = len(self.session.get_outputs()) == 2  # (label, probabilities) or (variable)

    def _feeds(self, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if len(self.inputs) == 1 and self.inputs[0][0] not in columns:  # one matrix of every input
            return {self.inputs[0][0]: np.column_stack(list(columns.values())).astype(np.float32)}
        feeds = {}
        for name, kind in self.inputs:
            values = np.asarray(columns[name])
            if kind == "tensor(string)":
                values = np.array(["" if v is None or v != v else str(v) for v in values], dtype=object)
            else:
                values = values.astype(np.float32)
            feeds[name] = values.reshape(-1, 1)
        return feeds

    def predict(self, columns: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        """Predictions and (for a classifier) class probabilities for checked input columns."""
        outputs = self.session.run(None, self._feeds(columns))
        if not self.classifier:
            return np.asarray(outputs[0], dtype=np.float64).ravel(), None
        return np.asarray(outputs[0]).ravel(), np.asarray(outputs[1], dtype=np.float64)  # scores too


@dataclass(frozen=True)
class Agreement:
    """How closely the ONNX model answered like the model: rows compared, the largest difference of a
    probability (of a regressor's prediction), and the tolerance it was held to."""

    rows: int
    max_abs_diff: float
    tolerance: float


def _checked_frame(signature: Signature, rows: pd.DataFrame) -> pd.DataFrame:
    """The rows as serving hands them to the model: checked against the signature, broken rules flagged."""
    spec = InputSpec(signature)
    return spec.check(frame_payload(rows, spec), on_invalid="flag").frame()


def _show(pred: np.ndarray, proba: np.ndarray | None, i: int) -> str:
    value = pred[i].item() if isinstance(pred[i], np.generic) else pred[i]
    return repr(value) if proba is None else f"{value!r} {np.round(proba[i], 6).tolist()}"


Answers = tuple[np.ndarray, np.ndarray | None]


def _differing(native: Answers, onnx: Answers, tol: float, classifier: bool) -> tuple[np.ndarray, float]:
    """The positions where the answers differ beyond ``tol``, and the largest difference: a regressor's
    predictions within ``tol`` (absolute or relative), a classifier's classes equal and its probabilities
    (when the model gives them) within ``tol``."""
    (pred, proba), (opred, oproba) = native, onnx
    if not classifier:
        diff = np.abs(pred.astype(np.float64) - opred.astype(np.float64))
        return np.flatnonzero(diff > tol + tol * np.abs(pred)), float(diff.max(initial=0.0))
    bad = np.array([str(a) != str(b) for a, b in zip(pred, opred, strict=True)], dtype=bool)
    if proba is None or oproba is None:
        return np.flatnonzero(bad), 0.0
    diff = np.abs(proba - oproba).max(axis=1, initial=0.0)
    return np.flatnonzero(bad | (diff > tol)), float(diff.max(initial=0.0))


def check(
    estimator: Any,
    runner: OnnxRunner,
    signature: Signature,
    rows: pd.DataFrame,
    *,
    tolerance: float,
    label: str,
) -> Agreement:
    """Compare the ONNX model's answers with the model's on ``rows``; ExportError naming the rows that
    differ."""
    frame = _checked_frame(signature, rows)
    classifier = signature.task == "classification"
    pred, proba = predict_rows(estimator, frame, proba=classifier)
    native = (pred.reshape(len(frame)) if pred.ndim == 2 else pred, proba)  # CatBoost's multi-class: (n, 1)
    onnx = runner.predict({c: frame[c].to_numpy() for c in frame.columns})
    bad, largest = _differing(native, onnx, tolerance, classifier)
    if len(bad):
        shown = "; ".join(
            f"row {rows.index[i]!r}: model {_show(*native, i)}, ONNX {_show(*onnx, i)}" for i in bad[:SHOWN]
        )
        raise ExportError(
            f"{label}'s ONNX model answers differently on {len(bad)} of {len(frame)} holdout rows (classes "
            f"must be equal, probabilities or a regressor's predictions within {tolerance:g}; largest "
            f"difference {largest:.3g}): {shown}. "
            "Serve it natively, or allow a larger tolerance when the differences are float32 rounding"
        )
    return Agreement(len(frame), largest, tolerance)


@dataclass(frozen=True)
class Checked:
    """An exported model and how closely it answered like the model it came from."""

    data: bytes
    agreement: Agreement

    def record(self, digest: str) -> dict[str, Any]:
        """What a version stores about its ONNX artifact (under ``lineage.onnx``)."""
        import onnxruntime

        a = self.agreement
        return {
            "artifact": digest,
            "rows_checked": a.rows,
            "max_abs_diff": a.max_abs_diff,
            "tolerance": a.tolerance,
            "onnxruntime": onnxruntime.__version__,
        }


def export_checked(
    estimator: Any, signature: Signature, rows: pd.DataFrame, *, tolerance: float, label: str
) -> Checked:
    """The model converted to ONNX and checked against itself on ``rows`` (its holdout)."""
    if tolerance < 0:
        raise ConfigError(f"the tolerance must be zero or more, not {tolerance}")
    if rows.empty:
        raise ExportError(f"{label} has no holdout rows to check an ONNX export on")
    data = convert(estimator, signature, label)
    agreement = check(estimator, OnnxRunner(data), signature, rows, tolerance=tolerance, label=label)
    return Checked(data, agreement)
