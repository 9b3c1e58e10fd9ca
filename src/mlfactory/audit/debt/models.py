"""Model debt: production versions older than their measured staleness horizon, and versions nobody
described."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlfactory.audit.debt.reads import audited_version, production_version
from mlfactory.audit.model import Finding, Severity
from mlfactory.audit.recorded import latest_check

if TYPE_CHECKING:
    from mlfactory.audit.model import Scope
    from mlfactory.project import Project

STALENESS_CHECK = "model.staleness"
HORIZON_METRIC = "horizon_days"  # what the staleness check records: days until the model loses its tolerance
NO_DESCRIPTION = "_No description in the project file._"  # what a card says when the project has none
DAY = 86400.0


def stale(project: Project, model: str, scope: Scope) -> Finding | None:
    """A finding when the production version is older than the newest staleness check's horizon; nothing
    when the check never ran (the rubric says that it is undecided)."""
    version = production_version(project, model)
    result = latest_check(project, STALENESS_CHECK, model) if version else None
    horizon = result.metrics.get(HORIZON_METRIC) if result else None
    if version is None or result is None or horizon is None:
        return None
    age = (scope.now - version.created_at).total_seconds() / DAY
    if age <= horizon:
        return None
    return Finding(
        check="model.stale",
        severity=Severity.HIGH if age > 2 * horizon else Severity.MEDIUM,
        title=f"{version.ref} in production is {age:.0f} days old; '{model}' decays past its tolerance in "
        f"{horizon:.0f} days",
        evidence={
            "version": version.ref,
            "trained_at": version.created_at.isoformat(),
            "age_days": round(age, 1),
            "horizon_days": round(horizon, 1),
            "staleness_run": result.run_id,
            "measured_at": result.finished_at.isoformat(),
        },
        why="The staleness check measured how fast this model loses quality as the data moves; production "
        "has been serving past that point, so it is likely worse than its gates said.",
        fix=f"`mlfactory train {model}` on fresh data and promote it, and set "
        f"models.{model}.policy.triggers.schedule to at most {max(int(horizon), 1)}d",
        model=model,
    )


def undocumented(project: Project, model: str) -> Finding | None:
    """A finding when the audited version has no card, or a card without a description."""
    version = audited_version(project, model)
    if version is None:
        return None
    missing = (
        "card" if not version.card.strip() else "description" if NO_DESCRIPTION in version.card else None
    )
    if missing is None:
        return None
    return Finding(
        check="model.undocumented",
        severity=Severity.MEDIUM if missing == "card" else Severity.LOW,
        title=f"{version.ref} has no {missing}",
        evidence={"version": version.ref, "aliases": list(version.aliases), "missing": missing},
        why="Without a description of what the model is for and what it must not be used for, the next "
        "owner cannot judge a change, a slice or an incident against its intended use.",
        fix="write the project's purpose under 'description:' in mlfactory.yaml and retrain "
        f"(`mlfactory train {model}`): the card is written from it with the version's lineage and metrics",
        model=model,
    )


def find_model_debt(project: Project, scope: Scope) -> list[Finding]:
    """Model debt findings of the audited models."""
    found = [(stale(project, model, scope), undocumented(project, model)) for model in scope.models]
    return [f for pair in found for f in pair if f is not None]
