"""Pipeline jungles: a model whose training data is built more than one way, and feature code repeated across
views."""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlfactory.audit.debt.reads import ViewFunction, feature_module
from mlfactory.audit.model import Finding, Severity

if TYPE_CHECKING:
    from mlfactory.audit.model import Scope
    from mlfactory.entities import ModelVersion
    from mlfactory.project import Project

RECENT_VERSIONS = 10  # a model's newest versions compared for how their training data was built
MIN_NODES = 12  # an expression this size or larger, repeated in two view functions, is repeated code


@dataclass(frozen=True)
class Recipe:
    """How one version's training data was put together, as its lineage records it."""

    source: str | None
    feedback: bool  # labelled production traffic joined in
    feature_service: str | None  # store features joined point-in-time
    max_rows: int | None  # cut to the newest rows

    @classmethod
    def of(cls, version: ModelVersion) -> Recipe:
        lineage = version.lineage
        service = lineage.features.feature_service if lineage.features else None
        return cls(lineage.source, lineage.feedback_rows > 0, service, lineage.max_rows)

    def describe(self) -> str:
        parts = [f"source {self.source}"]
        parts += ["+ labelled traffic"] if self.feedback else []
        parts += [f"+ feature service {self.feature_service}"] if self.feature_service else []
        parts += [f"newest {self.max_rows} rows"] if self.max_rows else []
        return " ".join(parts)


def training_paths(project: Project, model: str) -> Finding | None:
    """A finding when the model's recent versions were trained on data built in different ways."""
    try:
        versions = project.metadata.model_versions_page(model, limit=RECENT_VERSIONS)
    except LookupError:
        return None
    recipes: dict[str, list[int]] = defaultdict(list)
    for version in versions:
        recipes[Recipe.of(version).describe()].append(version.version)
    if len(recipes) < 2:
        return None
    return Finding(
        check="pipeline.training_paths",
        severity=Severity.LOW,
        title=f"'{model}' training data was built {len(recipes)} ways in its newest {len(versions)} versions",
        evidence={"recipes": {r: sorted(v) for r, v in recipes.items()}},
        why="Versions built from differently assembled data are not comparable, and a fix made on one path "
        "(a filter, a join) silently misses the other.",
        fix=f"train '{model}' one way: let the controller retrain it (`mlfactory controller tick`) rather "
        "than mixing manual `mlfactory train` runs (the source alone) with its retrains, or give SDK runs "
        "the same feedback and row limit as its policy",
        model=model,
    )


def _body(function: ast.FunctionDef) -> list[ast.stmt]:
    """The function's statements without its docstring."""
    body = function.body
    first = body[0] if body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return body[1:]
    return body


def _expressions(function: ast.FunctionDef) -> set[str]:
    """The sizeable expressions a function computes (assigned, returned or evaluated), as AST dumps."""
    found = set()
    for stmt in ast.walk(ast.Module(body=_body(function), type_ignores=[])):
        value = stmt.value if isinstance(stmt, ast.Assign | ast.Return | ast.Expr) else None
        if value is not None and sum(1 for _ in ast.walk(value)) >= MIN_NODES:
            found.add(ast.dump(value))
    return found


def _repeated(functions: tuple[ViewFunction, ...]) -> list[tuple[str, list[str]]]:
    """(what, view functions) for identical bodies, then for identical sizeable expressions."""
    bodies: dict[str, list[str]] = defaultdict(list)
    shared: dict[str, list[str]] = defaultdict(list)
    for fn in functions:
        bodies[ast.dump(ast.Module(body=_body(fn.node), type_ignores=[]))].append(fn.name)
        for expr in _expressions(fn.node):
            shared[expr].append(fn.name)
    whole = [("identical function bodies", names) for names in bodies.values() if len(names) > 1]
    same_body = {n for _, names in whole for n in names}
    parts = [
        ("an identical expression", names)
        for names in shared.values()
        if len(names) > 1 and not set(names) <= same_body
    ]
    return whole + parts


def repeated_feature_code(project: Project) -> list[Finding]:
    """Feature view functions of the feature module that repeat each other's code."""
    module = feature_module(project)
    if module is None:
        return []
    lines = {fn.name: fn.node.lineno for fn in module.functions}
    return [
        Finding(
            check="pipeline.repeated_feature_code",
            severity=Severity.LOW,
            title=f"feature views {', '.join(names)} in {module.path} share {what}",
            evidence={"module": module.path, "functions": {n: f"{module.path}:{lines[n]}" for n in names}},
            why="Copied feature code drifts apart: a fix in one copy leaves the other computing the old "
            "feature, and training and serving can disagree without an error.",
            fix=f"move the shared computation into one helper in {module.path} (or one view that both "
            "services select from)",
        )
        for what, names in _repeated(module.functions)
    ]


def find_jungle_debt(project: Project, scope: Scope) -> list[Finding]:
    """Pipeline jungle findings: the audited models' training paths and the feature module's repeats."""
    paths = (training_paths(project, model) for model in scope.models)
    return [*(f for f in paths if f is not None), *repeated_feature_code(project)]
