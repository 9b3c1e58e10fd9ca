"""A model's search space as Optuna distributions, checked against the parameters of its estimator."""

from __future__ import annotations

from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from mlfactory.config.models import ModelConfig, SearchParam
from mlfactory.errors import ConfigError
from mlfactory.training.fit import build_estimator


def _distribution(param: SearchParam) -> BaseDistribution:
    if param.kind == "choice":
        return CategoricalDistribution(param.choices)
    if param.kind == "int":
        return IntDistribution(int(param.low), int(param.high), log=param.log, step=param.step)
    return FloatDistribution(param.low, param.high, log=param.kind == "loguniform")


def with_params(model: ModelConfig, params: dict[str, Any]) -> ModelConfig:
    """The model with ``params`` over its declared ones (a searched key replaces the fixed value)."""
    return model.model_copy(update={"params": {**model.params, **params}})


def search_space(name: str, model: ModelConfig) -> dict[str, BaseDistribution]:
    """The distributions of ``models.<name>.search.space``.

    Raises:
        ConfigError: a searched key is not a parameter of the declared estimator (the message lists those
            that are), or the estimator itself cannot be built.
    """
    if model.search is None:
        raise ConfigError(f"model '{name}' declares no search")
    built = build_estimator(model)
    estimator = (
        built.named_steps["model"] if model.preprocess else built
    )  # the declared one, not the pipeline
    known = estimator.get_params()
    for key in model.search.space:
        if key not in known:
            raise ConfigError(
                f"models.{name}.search.space.{key}: not a parameter of {model.estimator} "
                f"(its parameters: {', '.join(sorted(known))})"
            )
    return {key: _distribution(param) for key, param in model.search.space.items()}
