"""The debt an audit finds by looking at the stores (nothing is trained): data dependencies, feedback loops,
pipeline jungles, configuration debt and model debt, each a :class:`~mlfactory.audit.model.Finding` with its
evidence, why it matters and the fix.

- :mod:`.sources`: sources without an owner or description, unreachable, unused, changed under a served
  version, or undeclared
- :mod:`.feedback` and :mod:`.label_rates`: training on the model's own decisions, retrains on windows it
  filtered, label rates that differ by predicted class
- :mod:`.jungles`: training data built several ways, feature code repeated across views
- :mod:`.configuration`: environment overrides, copied parameters, tuning literals in feature code
- :mod:`.models`: production versions past their staleness horizon, undocumented versions

Every read is bounded (a model's served version, its newest versions, a sample of its labelled requests, the
newest rows of its log), so the whole look costs seconds on a project with a long history. Dead experiments
are :mod:`mlfactory.audit.dead`'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlfactory.audit.debt.configuration import find_config_debt
from mlfactory.audit.debt.feedback import find_feedback_debt
from mlfactory.audit.debt.jungles import find_jungle_debt
from mlfactory.audit.debt.label_rates import find_label_rate_debt
from mlfactory.audit.debt.models import find_model_debt
from mlfactory.audit.debt.sources import find_source_debt

if TYPE_CHECKING:
    from mlfactory.audit.model import Finding, Scope
    from mlfactory.project import Project


def find_debt(project: Project, scope: Scope) -> list[Finding]:
    """Every debt finding of the project (its sources, settings and feature module) and of the models in
    ``scope`` (their served versions, logs and labels), in the order the areas are listed above."""
    return [
        *find_source_debt(project, scope),
        *find_feedback_debt(project, scope),
        *find_label_rate_debt(project, scope),
        *find_jungle_debt(project, scope),
        *find_config_debt(project),
        *find_model_debt(project, scope),
    ]


__all__ = ["find_debt"]
