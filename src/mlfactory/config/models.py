"""A model: its columns, estimator, split, metrics, gates, and the controller policy that manages it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, ValidationInfo, model_serializer, model_validator

from mlfactory.config.base import CLASSIFICATION_METRICS, REGRESSION_METRICS, Duration, _Strict


class FeaturesConfig(_Strict):
    """The model's input columns by type; they become a scikit-learn ColumnTransformer."""

    numeric: list[str] = []
    categorical: list[str] = []
    text: list[str] = []

    def all(self) -> list[str]:
        return [*self.numeric, *self.categorical, *self.text]

    @model_validator(mode="after")
    def _not_empty_no_dupes(self) -> FeaturesConfig:
        cols = self.all()
        if not cols:
            raise ValueError("declare at least one column under numeric, categorical or text")
        dupes = sorted({c for c in cols if cols.count(c) > 1})
        if dupes:
            raise ValueError(f"columns listed twice: {dupes}; list each column under one type")
        return self


class SplitConfig(_Strict):
    strategy: Literal["random", "time"] = "random"
    test_size: float = Field(default=0.2, gt=0.0, lt=1.0)


class GateConfig(_Strict):
    """A quality gate: absolute (`min`/`max`) or relative to production (`max_drop`)."""

    metric: str
    min: float | None = None
    max: float | None = None
    max_drop: float | None = Field(
        default=None,
        ge=0.0,
        description="largest allowed drop against the production version on the same holdout",
    )

    @model_validator(mode="after")
    def _one_bound(self) -> GateConfig:
        if self.min is None and self.max is None and self.max_drop is None:
            raise ValueError(f"gate on '{self.metric}' needs one of min, max or max_drop")
        return self


class TriggersConfig(_Strict):
    """What makes the controller retrain a model; any one firing is enough."""

    drift_windows: int | None = Field(
        default=None, ge=1, description="dataset drift in this many consecutive monitoring windows"
    )
    performance_metric: str | None = Field(default=None, description="realized, or estimated before labels")
    performance_below: float | None = None
    schedule: Duration | None = Field(default=None, description="retrain at least this often, e.g. 7d")
    new_data: bool = Field(default=False, description="a new valid dataset version of the model's source")

    @model_validator(mode="after")
    def _pairs(self) -> TriggersConfig:
        if (self.performance_metric is None) != (self.performance_below is None):
            raise ValueError("performance_metric and performance_below go together")
        return self


CLASSIFIER_COMPARISONS = frozenset({"accuracy"})  # canary metrics on labelled rows, by task
REGRESSOR_COMPARISONS = frozenset({"mae", "rmse"})


class CompareConfig(_Strict):
    """A live metric compared between challenger and champion during a canary.

    ``accuracy`` is a classifier's (any number of classes); ``mae`` and ``rmse`` are a regressor's, their
    allowance in the label's unit or, with ``relative``, a share of the champion's error.
    """

    metric: Literal["accuracy", "error_rate", "latency_p95_ms", "prediction_shift", "mae", "rmse"]
    max_regression: float = Field(ge=0.0, description="allowed worsening, in the metric's own unit")
    relative: bool = Field(
        default=False,
        description="mae/rmse only: max_regression is a share of the champion's error (0.05: 5% larger)",
    )

    @model_validator(mode="after")
    def _relative_for_errors(self) -> CompareConfig:
        if self.relative and self.metric not in REGRESSOR_COMPARISONS:
            raise ValueError(
                f"relative: true is for mae and rmse (a share of the champion's error), not {self.metric}"
            )
        return self


class RolloutConfig(_Strict):
    """How a challenger goes live: optional shadow, then a canary, then promotion or rollback."""

    shadow: bool = False
    shadow_min_rows: int = Field(default=200, ge=1)
    canary_weight: float = Field(default=20.0, gt=0.0, le=50.0)
    canary_key: str | None = Field(default=None, description="request field keeping each caller on one side")
    min_canary_rows: int = Field(default=200, ge=10)
    min_canary_duration: Duration = 0.0
    max_canary_duration: Duration = Field(
        default=86400.0, description="undecided canaries roll back after this"
    )
    compare: list[CompareConfig] = [
        CompareConfig(metric="error_rate", max_regression=0.01),
        CompareConfig(metric="accuracy", max_regression=0.02),
        CompareConfig(metric="latency_p95_ms", max_regression=50.0),
    ]
    significance: float = Field(
        default=0.05, gt=0.0, lt=0.5, description="α of the canary's sequential tests, however often it looks"
    )
    power: float = Field(
        default=0.95,
        ge=0.5,
        lt=1.0,
        description="for the planned canary size: the chance of catching a challenger worse by twice "
        "the allowed accuracy regression",
    )
    min_labelled_rows: int = Field(
        default=30, ge=10, description="labelled rows per side before accuracy is compared at all"
    )
    guard_rows: int = Field(default=200, ge=0, description="labelled production rows watched after promotion")
    guard_duration: Duration = Field(default=3600.0, description="how long the guard window stays open")
    canary_inconclusive: Literal["rollback", "promote"] = Field(
        default="rollback",
        description="a canary still short of evidence at max_canary_duration: roll the challenger back, "
        "or promote it anyway (the event says it was inconclusive either way)",
    )
    guard_inconclusive: Literal["keep", "rollback"] = Field(
        default="keep",
        description="a guard window that closes without guard_rows labelled rows: keep the promoted "
        "version, or roll production back to the version before it",
    )


class PolicyConfig(_Strict):
    """The controller's policy for one model."""

    triggers: TriggersConfig = TriggersConfig()
    window_rows: int = Field(default=1000, ge=50, description="prediction-log rows per monitoring window")
    cooldown: Duration = Field(default=3600.0, description="no new retrain this soon after the last one")
    max_retrains_per_day: int = Field(default=4, ge=1)
    include_feedback: bool = Field(default=True, description="train on labelled production traffic too")
    max_training_rows: int | None = Field(
        default=None,
        ge=100,
        description="retrain on only the newest N labelled rows (source and feedback "
        "together, by the model's timestamp), so a changed world outweighs the old one",
    )
    monitor: bool = Field(
        default=True,
        description="the controller writes a monitoring report of the newest window_rows rows whenever "
        "that many new production rows were logged since the model's last report",
    )
    retrain_search_timeout: Duration | None = Field(
        default=None,
        gt=0.0,
        description="on a retrain the controller starts, a model with a search block starts no new trial "
        "after this long (in place of its search.timeout; a manual `mlfactory train` keeps that one)",
    )
    rollout: RolloutConfig = RolloutConfig()


IMPORT_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")  # module.Class, as ``estimator`` is imported

DISTRIBUTIONS = ("uniform", "loguniform", "int", "choice")
Choice = bool | int | float | str | None
_SPACE_HELP = (
    "write {uniform: [low, high]}, {loguniform: [low, high]}, {int: [low, high]} "
    "(optionally with log: true or step: N) or {choice: [value, ...]}"
)


class SearchParam(_Strict):
    """One searched parameter of the estimator, written in the project file as ``{uniform: [low, high]}``,
    ``{loguniform: [low, high]}``, ``{int: [low, high]}`` (optionally with ``log: true`` or ``step: N``) or
    ``{choice: [value, ...]}``, and written back the same way."""

    kind: Literal["uniform", "loguniform", "int", "choice"]
    low: float = 0.0
    high: float = 0.0
    choices: tuple[Choice, ...] = ()
    log: bool = False
    step: int = Field(default=1, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _from_file(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            raise ValueError(f"got {data!r}; {_SPACE_HELP}")
        kinds = [k for k in data if k in DISTRIBUTIONS]
        if not kinds:
            named = ", ".join(repr(k) for k in data if k not in ("log", "step")) or "none"
            raise ValueError(f"unknown distribution {named}; known distributions: {', '.join(DISTRIBUTIONS)}")
        if len(kinds) > 1:
            raise ValueError(f"give one distribution per parameter, got {kinds}")
        kind = kinds[0]
        value, extras = data[kind], {k: v for k, v in data.items() if k != kind}
        if kind != "int" and extras:
            raise ValueError(f"{kind} takes no {sorted(extras)}; log and step go with int only")
        if kind == "choice":
            if not isinstance(value, list) or not value:
                raise ValueError("choice needs a non-empty list of values, e.g. {choice: [null, balanced]}")
            return {"kind": kind, "choices": value}
        if not isinstance(value, list) or len(value) != 2:
            raise ValueError(f"{kind} needs two bounds [low, high], got {value!r}")
        return {"kind": kind, "low": value[0], "high": value[1], **extras}

    @model_validator(mode="after")
    def _sound(self) -> SearchParam:
        if self.kind == "choice":
            return self
        written = self.as_written()[self.kind]
        if self.low >= self.high:
            raise ValueError(
                f"{self.kind} bounds {written} are reversed or equal; write [low, high], low < high"
            )
        if self.kind == "loguniform" and self.low <= 0:
            raise ValueError(f"loguniform needs bounds above 0, got {written}; use uniform to include 0")
        if self.kind == "int":
            if not (self.low.is_integer() and self.high.is_integer()):
                raise ValueError(f"int needs whole-number bounds, got {[self.low, self.high]}")
            if self.log and self.low < 1:
                raise ValueError(f"int with log: true needs bounds of 1 or more, got {written}")
            if self.log and self.step != 1:
                raise ValueError("int takes log: true or a step, not both")
            if (self.high - self.low) % self.step:
                raise ValueError(f"int bounds {written} are not a whole number of steps of {self.step} apart")
        return self

    @model_serializer
    def as_written(self) -> dict[str, Any]:
        """The parameter as the project file writes it (what ``config show`` lists)."""
        if self.kind == "choice":
            return {"choice": list(self.choices)}
        if self.kind != "int":
            return {self.kind: [self.low, self.high]}
        options = {**({"log": True} if self.log else {}), **({"step": self.step} if self.step != 1 else {})}
        return {"int": [int(self.low), int(self.high)], **options}


class SearchConfig(_Strict):
    """Parameter search before the gates: trials scored by cross-validation on the training part only (the
    holdout stays for the gates and the champion); the winner's params are fitted, gated and registered."""

    space: dict[str, SearchParam] = Field(
        min_length=1, description="estimator parameter -> distribution; it overrides the same key in params"
    )
    metric: str = Field(description="maximised, or minimised for error metrics (log_loss, mae, rmse)")
    trials: int = Field(default=20, ge=1)
    timeout: Duration | None = Field(default=None, gt=0.0, description="no new trials start after this")
    folds: int = Field(
        default=3,
        ge=2,
        le=20,
        description="validation folds of the training part: time-ordered for a time split, stratified for "
        "classification",
    )
    seed: int | None = Field(
        default=None, description="the sampler's and the folds' seed; the model's by default"
    )


class ModelServingConfig(_Strict):
    """How the server runs the model's versions: natively (the fitted model itself), or as an ONNX graph in
    ONNX Runtime, made and checked against the model on its holdout when each version is registered."""

    format: Literal["native", "onnx"] = Field(
        default="native",
        description="onnx: each new version is also exported to ONNX (registration is refused when it "
        "answers differently on the holdout) and served through onnxruntime; needs mlfactory[onnx]",
    )
    tolerance: float = Field(
        default=1e-4,
        ge=0.0,
        description="largest difference of a class probability (a regressor's prediction) the ONNX model "
        "may show on the holdout; predicted classes must be equal",
    )


DEFAULT_ESTIMATOR = "sklearn.linear_model.LogisticRegression"


class ModelConfig(_Strict):
    """One model the project trains: data, columns, estimator, split, metrics and gates."""

    #: the project folder a ``model`` class is read from (given by the project file's loader)
    _folder: Path | None = PrivateAttr(default=None)

    source: str
    label: str
    task: Literal["classification", "regression"] = "classification"
    timestamp: str | None = None
    features: FeaturesConfig
    estimator: str = DEFAULT_ESTIMATOR
    model: str | None = Field(
        default=None,
        description="a model class written in the project, in place of `estimator`: its import path "
        "(reviews_model.TextCNN is class TextCNN of reviews_model.py beside mlfactory.yaml); it is built "
        "with `params` and fitted on the raw feature columns (see mlfactory.estimators.project_class)",
    )
    params: dict[str, Any] = {}
    preprocess: bool = Field(
        default=True,
        description="wrap the estimator in a pipeline that scales numbers, one-hot encodes categories "
        "and TF-IDF vectorizes text; set false when the estimator handles raw columns itself",
    )
    split: SplitConfig = SplitConfig()
    metrics: list[str] | None = None
    gates: list[GateConfig] = []
    segments: list[str] = []
    seed: int = 42
    trusted_types: list[str] = Field(
        default=[], description="extra types skops may load for this model, beyond scikit-learn's own"
    )
    policy: PolicyConfig | None = Field(
        default=None, description="set to let the controller manage the model"
    )
    search: SearchConfig | None = Field(default=None, description="tune the params before the gates")
    baselines: list[str] = Field(
        default=[],
        description="estimators (import paths) the audit's model.simpler_baseline check also trains on the "
        "same split, besides the majority class or mean and a linear model; production must beat each",
    )
    # -- features (issue 4) --
    feature_service: str | None = Field(
        default=None,
        description="feature service (from features.module) whose features the model also uses; "
        "training joins them point-in-time at the 'timestamp' column, serving looks them up online",
    )
    on_invalid_labels: Literal["reject", "exclude"] = Field(
        default="reject",
        description="feedback whose label does not fit the model's label type or classes: 'reject' "
        "refuses the batch naming the rows, 'exclude' stores the rest and keeps those aside, never used",
    )
    on_missing_features: Literal["reject", "defaults"] = Field(
        default="reject",
        description="a row whose entity is not found or is stale in the online store: "
        "'reject' answers 4xx naming the row, 'defaults' uses the view's declared defaults",
    )
    serving: ModelServingConfig = Field(
        default=ModelServingConfig(), description="how the server runs the model (native or onnx)"
    )
    on_invalid_input: Literal["reject", "flag"] = Field(
        default="reject",
        description="a served row breaking a rule its source declares (min, max, categories, "
        "nullable: false): 'reject' answers 422 naming the column, rule and rows; 'flag' answers it and "
        "names the broken rules per row in the answer and the prediction log (wrong types, NaN and infinity "
        "are refused either way)",
    )

    @model_validator(mode="after")
    def _metrics_known(self) -> ModelConfig:
        allowed = CLASSIFICATION_METRICS if self.task == "classification" else REGRESSION_METRICS
        trigger_metric = self.policy.triggers.performance_metric if self.policy else None
        for name in [
            *(self.metrics or []),
            *(g.metric for g in self.gates),
            *([trigger_metric] if trigger_metric else []),
        ]:
            if name not in allowed:
                raise ValueError(f"unknown {self.task} metric '{name}'; allowed: {', '.join(allowed)}")
        if self.label in self.features.all():
            raise ValueError(f"the label '{self.label}' is also listed as a feature")
        if self.split.strategy == "time" and not self.timestamp:
            raise ValueError("split strategy 'time' needs the model's 'timestamp' column")
        if self.feature_service and not self.timestamp:
            raise ValueError(
                "feature_service needs the model's 'timestamp' column (the label's event time) "
                "for the point-in-time join"
            )
        return self

    @model_validator(mode="after")
    def _compare_fits_task(self) -> ModelConfig:
        """A canary compares a classifier's accuracy and a regressor's errors; the default comparisons of
        a regressor's policy swap accuracy for its error (:func:`mlfactory.control.canary.comparisons`)."""
        if self.policy is None or "compare" not in self.policy.rollout.model_fields_set:
            return self
        wrong = REGRESSOR_COMPARISONS if self.task == "classification" else CLASSIFIER_COMPARISONS
        for c in self.policy.rollout.compare:
            if c.metric in wrong:
                fits = CLASSIFIER_COMPARISONS if self.task == "classification" else REGRESSOR_COMPARISONS
                raise ValueError(
                    f"policy.rollout.compare: {c.metric} is not a {self.task} metric; a {self.task} canary "
                    f"compares {' or '.join(sorted(fits))} on labelled rows"
                )
        return self

    @model_validator(mode="after")
    def _search_metric_known(self) -> ModelConfig:
        allowed = CLASSIFICATION_METRICS if self.task == "classification" else REGRESSION_METRICS
        if self.search is not None and self.search.metric not in allowed:
            raise ValueError(
                f"search.metric '{self.search.metric}' is not a {self.task} metric; "
                f"allowed: {', '.join(allowed)}"
            )
        return self

    @model_validator(mode="after")
    def _baselines_are_import_paths(self) -> ModelConfig:
        for path in self.baselines:
            if not IMPORT_PATH.fullmatch(path):
                raise ValueError(
                    f"baseline '{path}' must be an import path like sklearn.tree.DecisionTreeClassifier"
                )
        return self

    @model_validator(mode="after")
    def _project_model(self, info: ValidationInfo) -> ModelConfig:
        if self.model is None:
            return self
        if not IMPORT_PATH.fullmatch(self.model):
            raise ValueError(
                f"model '{self.model}' must be an import path like reviews_model.TextCNN (class TextCNN in "
                "reviews_model.py beside mlfactory.yaml)"
            )
        if "estimator" in self.model_fields_set or self.estimator != DEFAULT_ESTIMATOR:
            raise ValueError(
                f"give either `model` (a class of the project, here '{self.model}') or `estimator` (here "
                f"'{self.estimator}'), not both; remove one of them"
            )
        if self.search is not None:
            raise ValueError("a project model class cannot be searched yet; remove `search` or use `params`")
        root = (info.context or {}).get("root") if isinstance(info.context, Mapping) else None
        self._folder = Path(root) if root is not None else None
        return self

    def project_folder(self) -> Path:
        """Where a ``model`` class is read from: the project folder when the project file's loader gave it,
        else the working folder."""
        return self._folder if self._folder is not None else Path.cwd()

    def metric_names(self) -> list[str]:
        if self.metrics:
            return list(self.metrics)
        return list(CLASSIFICATION_METRICS if self.task == "classification" else REGRESSION_METRICS)
