"""Configuration debt: settings the environment changes without the project file showing it, parameter values
copied from model to model, numbers in feature code that are tuning constants in disguise, and settings the
file repeats at their defaults."""

from __future__ import annotations

import ast
import json
from collections import defaultdict
from typing import TYPE_CHECKING

from mlfactory.audit.debt.reads import feature_module
from mlfactory.audit.model import Finding, Severity
from mlfactory.config.base import ENV_PREFIX
from mlfactory.config.loading import SECRET_KEYS, effective_settings, settings_at_default

if TYPE_CHECKING:
    from mlfactory.project import Project

PLAIN_NUMBERS = frozenset({0, 1, -1})  # counting, indexing and signs, not tuning
MAX_LISTED = 20  # literals named per view function
MASKED = "***"  # how effective_settings shows a secret


def _variable(key: str) -> str:
    return ENV_PREFIX + key.upper().replace(".", "__")


def env_overrides(project: Project) -> list[Finding]:
    """One finding naming every setting an ``MLFACTORY_*`` variable overrides; secrets (a token, a URL with a
    password), which belong in the environment, are left out."""
    overridden = {
        key: value
        for key, value, origin in effective_settings(project.loaded)
        if origin == "env" and key.rsplit(".", 1)[-1] not in SECRET_KEYS and MASKED not in value
    }
    if not overridden:
        return []
    return [
        Finding(
            check="config.env_override",
            severity=Severity.MEDIUM,
            title=f"{len(overridden)} setting(s) come from the environment, not the project file: "
            + ", ".join(sorted(overridden)),
            evidence={
                "settings": {k: {"variable": _variable(k), "value": v} for k, v in sorted(overridden.items())}
            },
            why="What runs differs from what the project file says: a reader, a reviewer or another machine "
            "sees other settings, and the run's recorded project file hash does not cover them.",
            fix="write the values in mlfactory.yaml and unset "
            + ", ".join(_variable(k) for k in sorted(overridden))
            + " (keep only secrets in the environment); `mlfactory config show` lists "
            "each setting's origin",
        )
    ]


def copied_params(project: Project) -> list[Finding]:
    """Each estimator parameter set to the same value in the project file for two or more models."""
    holders: dict[tuple[str, str], list[str]] = defaultdict(list)
    for name, model in project.config.models.items():
        for key, value in model.params.items():
            holders[(key, json.dumps(value, sort_keys=True, default=str))].append(name)
    return [
        Finding(
            check="config.copied_param",
            severity=Severity.LOW,
            title=f"params.{key} = {value} is copied in models {', '.join(models)}",
            evidence={"param": key, "value": json.loads(value), "models": models},
            why="A value copied by hand drifts: the next change reaches one model and not the others, and "
            "nobody can tell whether the difference is intended.",
            fix=f"write it once with a YAML anchor (`params: &shared {{{key}: {value}}}` on the first model, "
            "`params: *shared` or `<<: *shared` on the others), or drop it where the default serves",
        )
        for (key, value), models in holders.items()
        if len(models) > 1
    ]


def _number(node: ast.AST) -> float | None:
    """The value of a numeric literal (a negated one too); None for anything else, booleans included."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _number(node.operand)
        return None if inner is None else -inner
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    ):
        return node.value
    return None


def _literals(function: ast.FunctionDef) -> list[tuple[int, float]]:
    """(line, value) of the numeric literals in a function's body other than 0, 1, -1 and indices
    (``week[2]`` picks an item, it tunes nothing)."""
    negated = {id(n.operand) for n in ast.walk(function) if isinstance(n, ast.UnaryOp)}
    indices = {id(n.slice) for n in ast.walk(function) if isinstance(n, ast.Subscript)}
    skipped = negated | indices
    found = []
    for stmt in function.body:
        for node in ast.walk(stmt):
            value = None if id(node) in skipped else _number(node)
            if value is not None and value not in PLAIN_NUMBERS:
                found.append((getattr(node, "lineno", function.lineno), value))
    return sorted(found)


def tuning_literals(project: Project) -> list[Finding]:
    """View functions of the feature module with numeric literals in their code, named by file and line."""
    module = feature_module(project)
    if module is None:
        return []
    findings = []
    for fn in module.functions:
        literals = _literals(fn.node)
        if not literals:
            continue
        places = [f"{module.path}:{line}: {value:g}" for line, value in literals[:MAX_LISTED]]
        findings.append(
            Finding(
                check="config.tuning_literal",
                severity=Severity.LOW,
                title=f"feature view function '{fn.name}' has {len(literals)} numeric literal(s) in its code",
                evidence={"function": fn.name, "literals": places},
                why="Windows, thresholds and caps written into feature code are tuning choices no run "
                "records as a parameter: changing one changes the features with nothing to compare or undo.",
                fix=f"name each one as a constant at the top of {module.path} (or a view setting), so the "
                "view's code version and lineage show when it changes",
            )
        )
    return findings


def default_values(project: Project) -> list[Finding]:
    """One finding naming the settings the project file repeats at their default values."""
    repeated = settings_at_default(project.loaded)
    if not repeated:
        return []
    return [
        Finding(
            check="config.default_values",
            severity=Severity.LOW,
            title=f"{len(repeated)} setting(s) in mlfactory.yaml repeat their default values",
            evidence={"settings": repeated[:MAX_LISTED], "count": len(repeated)},
            why="A setting written out at its default reads as a decision someone made; the few settings "
            "that were chosen get lost among them, and a change of the default never reaches this project.",
            fix="remove these keys from mlfactory.yaml (`mlfactory config show` lists every setting, its "
            "value and where it came from)",
        )
    ]


def find_config_debt(project: Project) -> list[Finding]:
    """Every configuration finding of the project."""
    return [
        *env_overrides(project),
        *copied_params(project),
        *tuning_literals(project),
        *default_values(project),
    ]
