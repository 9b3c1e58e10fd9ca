"""A model version written as an MLflow model directory that MLflow serves without pickle.

MLflow's scikit-learn flavor can read skops (``serialization_format: skops``, MLflow 3), but since MLflow
3.17 it loads every format, skops included, only when ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION`` is set, because
its trusted-type list is read from the model itself; and it cannot hold a booster without pickle. So the
export's ``python_function`` flavor names a small loader of its own (:mod:`mlfactory.registry.mlflow_pyfunc`,
copied into ``code/``) that checks every file's SHA-256, loads the pipeline with skops against the types
this export lists, and reads a booster with its library's own loader. Plain scikit-learn pipelines also get
the ``sklearn`` flavor over the same skops file, for ``mlflow.sklearn.load_model``.

The directory holds ``MLmodel`` (flavors, signature, mlfactory's version and the version's ref under
``metadata``), ``requirements.txt``, ``python_env.yaml``, ``conda.yaml``, ``model/`` (the files and their
config), ``code/`` and, when rows are given, ``input_example.json`` and ``serving_input_example.json``.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import platform
import shutil
import uuid
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from mlfactory.entities import Signature
from mlfactory.errors import ConflictError, ExportError, IntegrityError
from mlfactory.estimators.project_class import ProjectModel
from mlfactory.registry import mlflow_pyfunc, native
from mlfactory.registry.packaging import TRUSTED_PREFIXES

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory.registry.loaded import LoadedModel

DATA = "model"
CODE = "code"
PIPELINE = "pipeline.skops"
LOADER = "mlfactory_loader"  # the loader's module name in code/: one no installed package has
COLUMN_TYPES = {  # mlfactory input type -> MLflow column type (mlfactory reads every number as a float)
    "number": "double",
    "integer": "double",
    "boolean": "boolean",
    "category": "string",
    "text": "string",
    "datetime": "datetime",
}
BASE_REQUIREMENTS = ("mlflow", "scikit-learn", "skops", "numpy", "pandas", "scipy")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _skops(head: Any, version_trusted: list[str], label: str) -> tuple[bytes, list[str]]:
    """The pipeline as one plain skops file, and the types it needs trusted (each one the version was
    registered with, or scikit-learn's, NumPy's or SciPy's)."""
    import skops.io as sio

    data = sio.dumps(head)
    needed = sorted(sio.get_untrusted_types(data=data))
    refused = [t for t in needed if t not in version_trusted and not t.startswith(TRUSTED_PREFIXES)]
    if refused:
        raise IntegrityError(f"{label} holds types it was not registered with: {refused}; not exported")
    return data, needed


def _booster(parts: native.Split) -> dict[str, Any]:
    """How the loader rebuilds the booster: its library's class, file, step and fitted state, and for an
    XGBoost classifier trained on labels other than 0..n-1 (whose booster answers in positions) the labels."""
    classes = getattr(parts.booster, "classes_", None)
    listed = None if classes is None else np.asarray(classes).tolist()
    positional = listed is None or listed == list(range(len(listed)))
    return {
        "library": parts.family.library,
        "estimator": parts.name,
        "file": parts.family.entry,
        "step": parts.step,
        "classes": listed,
        "labels": None if parts.family.library != "xgboost" or positional else listed,
        "state": parts.family.state(parts.booster),
    }


def _files(loaded: LoadedModel) -> tuple[dict[str, bytes], dict[str, Any]]:
    """The model's files and the loader's config for them (without the inputs and hashes)."""
    label, trusted = loaded.version.ref, list(loaded.version.signature.trusted_types)
    if isinstance(loaded.estimator, ProjectModel):
        raise ExportError(
            f"{label} is a model class written in the project: loading it runs its module's code, which "
            "only mlfactory does safely, so it has no MLflow export; serve it with `mlfactory serve`"
        )
    parts = native.split(loaded.estimator)
    head = loaded.estimator if parts is None else parts.head
    files: dict[str, bytes] = {}
    config: dict[str, Any] = {"pipeline": None, "trusted_types": [], "booster": None}
    if head is not None:
        files[PIPELINE], config["trusted_types"] = _skops(head, trusted, label)
        config["pipeline"] = PIPELINE
    if parts is not None:
        config["booster"] = _booster(parts)
        files[parts.family.entry] = parts.family.dump(parts.booster)
    return files, config


def _requirements(booster: dict[str, Any] | None) -> list[str]:
    """The packages the loader needs, pinned to the versions this export was made with."""
    pins = []
    for name in BASE_REQUIREMENTS:
        try:
            pins.append(f"{name}=={importlib_metadata.version(name)}")
        except importlib_metadata.PackageNotFoundError:  # mlflow: not an mlfactory dependency
            pins.append(name)
    if booster is not None:
        library = booster["library"]
        pins.append(f"{library}=={importlib.import_module(library).__version__}")
    return pins


def _schema(signature: Signature) -> dict[str, Any]:
    """The MLflow signature: the inputs as named columns, the prediction as one unnamed column."""
    inputs = [
        {"type": COLUMN_TYPES.get(c.type, "string"), "name": c.name, "required": True}
        for c in signature.inputs
    ]
    classes = signature.classes or ()
    integers = bool(classes) and all(isinstance(c, int) and not isinstance(c, bool) for c in classes)
    output = "double" if signature.task != "classification" else ("long" if integers else "string")
    return {
        "inputs": json.dumps(inputs),
        "outputs": json.dumps([{"type": output, "required": True}]),
        "params": None,
    }


def _mlmodel(
    loaded: LoadedModel, files: dict[str, bytes], config: dict[str, Any], meta: dict[str, Any]
) -> dict[str, Any]:
    python = platform.python_version()
    flavors: dict[str, Any] = {
        "python_function": {
            "loader_module": LOADER,
            "code": CODE,
            "data": DATA,
            "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
            "python_version": python,
        }
    }
    if config["booster"] is None:  # the same skops file, for mlflow.sklearn.load_model
        flavors["sklearn"] = {
            "pickled_model": f"{DATA}/{PIPELINE}",
            "serialization_format": "skops",
            "skops_trusted_types": config["trusted_types"],
            "sklearn_version": importlib_metadata.version("scikit-learn"),
            "code": None,
        }
    return {
        "artifact_path": None,
        "flavors": flavors,
        "model_size_bytes": sum(len(b) for b in files.values()),
        "model_uuid": uuid.uuid4().hex,
        "utc_time_created": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
        "signature": _schema(loaded.version.signature),
        "metadata": meta,
    }


def _examples(folder: Path, example: pd.DataFrame, mlmodel: dict[str, Any]) -> None:
    """The input example, as MLflow writes one (pandas ``split`` orient) and as a request body."""
    split = json.loads(example.to_json(orient="split", index=False, date_format="iso"))
    (folder / "input_example.json").write_text(json.dumps(split))
    (folder / "serving_input_example.json").write_text(json.dumps({"dataframe_split": split}, indent=2))
    mlmodel["saved_input_example_info"] = {
        "artifact_path": "input_example.json",
        "type": "dataframe",
        "pandas_orient": "split",
        "serving_input_path": "serving_input_example.json",
    }


def _environment(folder: Path, requirements: list[str]) -> None:
    python = platform.python_version()
    (folder / "requirements.txt").write_text("\n".join(requirements) + "\n")
    env = {
        "python": python,
        "build_dependencies": ["pip", "setuptools", "wheel"],
        "dependencies": ["-r requirements.txt"],
    }
    (folder / "python_env.yaml").write_text(yaml.safe_dump(env, sort_keys=False))
    conda = {
        "name": "mlflow-env",
        "channels": ["conda-forge"],
        "dependencies": [f"python={python}", "pip", {"pip": requirements}],
    }
    (folder / "conda.yaml").write_text(yaml.safe_dump(conda, sort_keys=False))


def _empty_folder(output: Path) -> None:
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise ConflictError(f"{output} already exists and is not an empty folder; choose another --output")
    output.mkdir(parents=True, exist_ok=True)


def export_model(
    loaded: LoadedModel, output: Path, *, example: pd.DataFrame | None, meta: dict[str, Any]
) -> Path:
    """Write ``loaded`` as an MLflow model directory at ``output`` (new, or an empty folder); ``meta`` goes
    under the MLmodel's ``metadata``. Returns ``output``.

    Raises:
        ConflictError: ``output`` exists and holds something.
        IntegrityError: the pipeline holds a type its version was not registered with.
    """
    files, config = _files(loaded)
    config["sha256"] = {name: _sha256(data) for name, data in files.items()}
    config["inputs"] = [{"name": c.name, "type": c.type} for c in loaded.version.signature.inputs]
    _empty_folder(output)
    data_dir, code_dir = output / DATA, output / CODE
    data_dir.mkdir()
    code_dir.mkdir()
    for name, data in files.items():
        (data_dir / name).write_bytes(data)
    (data_dir / mlflow_pyfunc.CONFIG).write_text(json.dumps(config, indent=1))
    shutil.copyfile(mlflow_pyfunc.__file__, code_dir / f"{LOADER}.py")
    mlmodel = _mlmodel(loaded, files, config, meta)
    if example is not None and len(example):
        _examples(output, example, mlmodel)
    _environment(output, _requirements(config["booster"]))
    (output / "MLmodel").write_text(yaml.safe_dump(mlmodel, sort_keys=False))
    return output
