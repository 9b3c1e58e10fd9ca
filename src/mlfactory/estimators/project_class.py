"""Models written in the project: a class in a Python file beside ``mlfactory.yaml`` that mlfactory trains,
registers and serves like any other model (``model: reviews_model.TextCNN`` in the project file).

The class implements :class:`ModelClass` and nothing else is asked of it: it takes the raw frame of the
model's declared feature columns (no preprocessing pipeline is put in front of it) and saves itself as data
only (weights as safetensors, settings as JSON), so loading a version never unpickles anything. mlfactory
holds it inside a :class:`ProjectModel`, which remembers the module's source text, so the version is saved
with the exact code it was trained with (:mod:`mlfactory.registry.project_models`) and a rollback runs that
code, whatever the file beside the project holds by then.

A module is imported from its text under a name made from the text's SHA-256 (:func:`import_class`): two
versions whose code differs load side by side in one server, each as its own module.

Nothing here imports a deep-learning library: a class that needs PyTorch imports it itself, and when it is
missing the import fails with a :class:`~mlfactory.errors.ConfigError` saying how to install it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol, Self

import numpy as np
import pandas as pd

from mlfactory.errors import ConfigError, MLFactoryError, TrainingError

#: the libraries whose absence the ``torch`` extra fixes
_EXTRA_LIBRARIES = {"torch": "torch", "safetensors": "torch"}
_METHODS = ("fit", "predict", "save", "load")


class ModelClass(Protocol):
    """What a project model class implements.

    - ``__init__(**params)``: the model's ``params`` from the project file.
    - ``fit(X, y)``: ``X`` is a DataFrame of the declared feature columns, raw (text as ``str``, missing
      numbers as NaN), ``y`` the labels as a NumPy array; returns ``self``.
    - ``predict(X)``: one prediction per row, as an array.
    - ``predict_proba(X)`` (optional, classifiers): one column per class, in the order of ``classes_``,
      the array of class labels set by ``fit``.
    - ``save(folder)``: writes the fitted model into ``folder`` as ``.safetensors`` (weights) and ``.json``
      (settings) files only; any other file is refused when the version is registered.
    - ``load(folder)``, a classmethod: the fitted model back from what ``save`` wrote.
    """

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> Self: ...

    def predict(self, X: pd.DataFrame) -> np.ndarray: ...

    def save(self, folder: Path) -> None: ...

    @classmethod
    def load(cls, folder: Path) -> Self: ...


@dataclass(frozen=True)
class ModuleSource:
    """A project model's module by content: its file (relative to the project), its text and its SHA-256."""

    path: str
    text: str
    sha256: str

    @classmethod
    def of(cls, path: str, text: str) -> ModuleSource:
        return cls(path, text, hashlib.sha256(text.encode()).hexdigest())


def read_source(folder: Path, import_path: str) -> tuple[ModuleSource, str]:
    """The module of ``import_path`` (``pkg.module.Class``) read from the project ``folder``, and the class
    name; a ConfigError naming the file looked for when it is not there."""
    module, _, name = import_path.rpartition(".")
    relative = Path(*module.split(".")).with_suffix(".py")
    file = folder / relative
    if not file.is_file():
        raise ConfigError(
            f"model '{import_path}': no file {relative} in the project folder {folder}; a project model "
            f"class lives in a Python file beside mlfactory.yaml"
        )
    return ModuleSource.of(relative.as_posix(), file.read_text(encoding="utf-8")), name


def _module(source: ModuleSource) -> ModuleType:
    """The module executed from its text, once per distinct text (its hash names it in ``sys.modules``)."""
    name = f"mlfactory_project_model_{source.sha256[:32]}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_loader(name, loader=None, origin=source.path)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    module.__file__ = source.path
    sys.modules[name] = module  # dataclasses and pickling look a class's module up by name
    try:
        exec(compile(source.text, source.path, "exec"), module.__dict__)
    except ModuleNotFoundError as exc:
        sys.modules.pop(name, None)
        extra = _EXTRA_LIBRARIES.get((exc.name or "").partition(".")[0])
        hint = f"install it with `pip install 'mlfactory[{extra}]'`" if extra else "install it"
        raise ConfigError(f"{source.path} needs {exc.name}, which is not installed here; {hint}") from None
    except Exception as exc:
        sys.modules.pop(name, None)
        why = f"{type(exc).__name__}: {exc}"
        raise ConfigError(f"{source.path} failed to import: {why}; fix the file") from exc
    return module


def check_class(cls: Any, import_path: str) -> None:
    """Refuse a class that does not implement :class:`ModelClass`, naming every missing part."""
    if not inspect.isclass(cls):
        raise ConfigError(f"model '{import_path}' is not a class")
    missing = [m for m in _METHODS if not callable(getattr(cls, m, None))]
    if "load" not in missing and not isinstance(inspect.getattr_static(cls, "load"), classmethod):
        missing.append("load as a @classmethod")
    if missing:
        raise ConfigError(
            f"model class '{import_path}' lacks {', '.join(missing)}; a project model implements fit(X, y), "
            "predict(X), save(folder) and the classmethod load(folder) "
            "(see mlfactory.estimators.project_class)"
        )


def import_class(source: ModuleSource, name: str, import_path: str) -> type[ModelClass]:
    """The class ``name`` of the module ``source``, checked against :class:`ModelClass`."""
    cls = getattr(_module(source), name, None)
    if cls is None:
        raise ConfigError(f"{source.path} defines no '{name}' (the model is '{import_path}')")
    check_class(cls, import_path)
    return cls  # type: ignore[no-any-return]


class ProjectModel:
    """A project class as mlfactory holds it: the class, its params and its module's source, and the fitted
    instance once :meth:`fit` ran (or :func:`~mlfactory.registry.project_models.load` restored it).

    scikit-learn's ``clone`` (which training calls on every built model) gets a fresh, unfitted one through
    ``__sklearn_clone__``; ``predict_proba`` is there only when the class has it.
    """

    def __init__(
        self,
        import_path: str,
        source: ModuleSource,
        params: dict[str, Any],
        fitted: ModelClass | None = None,
    ) -> None:
        self.import_path = import_path
        self.source = source
        self.params = dict(params)
        self.cls = import_class(source, import_path.rpartition(".")[2], import_path)
        self.fitted = fitted

    def __sklearn_clone__(self) -> ProjectModel:
        return ProjectModel(self.import_path, self.source, self.params)

    def __getattr__(self, name: str) -> Any:
        """``predict_proba`` and ``classes_`` of the fitted instance, when it has them (no other attribute):
        callers ask ``hasattr(model, "predict_proba")`` to learn whether a model gives probabilities."""
        if name in ("predict_proba", "classes_"):
            fitted = self.__dict__.get("fitted")
            if fitted is not None:
                return getattr(fitted, name)
        raise AttributeError(name)

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> ProjectModel:
        try:
            instance = self.cls(**self.params)
        except TypeError as exc:
            raise ConfigError(f"bad params for {self.import_path}: {exc}") from None
        try:
            instance.fit(X, y)
        except MLFactoryError:
            raise
        except Exception as exc:  # the project's own code: name it, keep its traceback
            raise TrainingError(f"{self.import_path}.fit failed: {type(exc).__name__}: {exc}") from exc
        self.fitted = instance
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self._instance().predict(X))

    def _instance(self) -> ModelClass:
        if self.fitted is None:
            raise ConfigError(f"the {self.import_path} model is not fitted yet; call fit first")
        return self.fitted


def build(folder: Path, import_path: str, params: dict[str, Any]) -> ProjectModel:
    """The project class ``import_path`` read from the project ``folder``, checked, unfitted."""
    source, _ = read_source(folder, import_path)
    return ProjectModel(import_path, source, params)
