"""The bounded reads the debt finders share: a model's served version, a source's newest dataset version, the
feature views the project declares and the view functions of its feature module.

Each read costs a few rows, one file or one small artifact, whatever the size of the project's history.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlfactory.entities import PRODUCTION
from mlfactory.errors import MLFactoryError

if TYPE_CHECKING:
    from mlfactory.entities import DatasetVersion, ModelVersion
    from mlfactory.project import Project


def production_version(project: Project, model: str) -> ModelVersion | None:
    """The version the ``production`` alias points at, or None when the model serves nothing."""
    number = project.metadata.get_aliases(model).get((model, PRODUCTION))
    return None if number is None else project.metadata.get_model_version(model, number)


def audited_version(project: Project, model: str) -> ModelVersion | None:
    """The version an audit judges a model by: its production version, else its newest one."""
    return production_version(project, model) or project.metadata.latest_model_version(model)


def newest_dataset(project: Project, source: str) -> DatasetVersion | None:
    """The source's newest dataset version (valid or not), or None when it was never ingested."""
    versions = project.metadata.list_datasets(source)
    return versions[-1] if versions else None


def view_sources(project: Project) -> dict[str, str] | None:
    """Feature view -> the source it reads, as the project's feature module declares them; empty without a
    module, None when the module cannot be loaded (then nothing that depends on it is decidable)."""
    if project.config.features.module is None:
        return {}
    try:
        return {name: view.source for name, view in project.features.repo.views.items()}
    except MLFactoryError:
        return None


@dataclass(frozen=True)
class ViewFunction:
    """One function of the feature module that computes a feature view, as parsed (never run)."""

    name: str
    node: ast.FunctionDef


@dataclass(frozen=True)
class FeatureModule:
    """The project's feature module as parsed source: where it is (as the project file names it) and the
    functions that compute its views."""

    path: str
    functions: tuple[ViewFunction, ...]


def _decorator_name(node: ast.expr) -> str:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Attribute):
        return target.attr
    return target.id if isinstance(target, ast.Name) else ""


def _view_functions(tree: ast.Module) -> tuple[ViewFunction, ...]:
    """Functions decorated with ``feature_view`` or passed as ``function=`` to a ``FeatureView``."""
    passed = {
        kw.value.id
        for call in ast.walk(tree)
        if isinstance(call, ast.Call) and _decorator_name(call) == "FeatureView"
        for kw in call.keywords
        if kw.arg == "function" and isinstance(kw.value, ast.Name)
    }
    return tuple(
        ViewFunction(node.name, node)
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and (node.name in passed or any(_decorator_name(d) == "feature_view" for d in node.decorator_list))
    )


def feature_module(project: Project) -> FeatureModule | None:
    """The feature module parsed without running it, or None when the project has none or it cannot be
    read or parsed (nothing is decided from it then)."""
    declared = project.config.features.module
    if declared is None:
        return None
    try:
        path: Path = project.loaded.path(declared)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, ValueError, MLFactoryError):
        return None
    return FeatureModule(declared, _view_functions(tree))
