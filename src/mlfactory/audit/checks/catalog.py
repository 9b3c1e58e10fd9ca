"""The on-demand checks by id, and running them on the models of an audit's scope, each recorded as a run."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from mlfactory.audit.checks.base import OnDemandCheck, Target, find_target
from mlfactory.audit.checks.baseline import simpler_baseline
from mlfactory.audit.checks.importance import feature_importance
from mlfactory.audit.checks.reproducible import reproducible
from mlfactory.audit.checks.single import single_example
from mlfactory.audit.checks.slices import slices
from mlfactory.audit.checks.staleness import staleness
from mlfactory.audit.recorded import CheckOutcome, CheckResult, record_check
from mlfactory.errors import ConfigError

if TYPE_CHECKING:
    from mlfactory.audit.model import Scope
    from mlfactory.project import Project
    from mlfactory.tracking import ActiveRun

_ALL = (
    OnDemandCheck(
        "data.feature_importance",
        "shuffles each input column on the production version's holdout (permutation importance, 5 seeded "
        "repeats) and names the columns whose importance interval reaches zero",
        "5 scorings of the holdout per input column: about a training (quickstart: 1.4 s, a train 2.2 s)",
        feature_importance,
    ),
    OnDemandCheck(
        "model.simpler_baseline",
        "trains the majority class or mean, a linear model and the declared baselines on the same split "
        "and compares each with production on the holdout",
        "one fit per baseline: a fraction of a training (quickstart: 0.3 s)",
        simpler_baseline,
    ),
    OnDemandCheck(
        "model.staleness",
        "trains the model on older snapshots of its source and scores it on later ones: decay per day of "
        "model age, and the days until it loses its gate's tolerance, against the policy's schedule",
        "one fit per older snapshot (of the newest 6) and a scoring per later one: a training per snapshot",
        staleness,
    ),
    OnDemandCheck(
        "infra.reproducible",
        "trains the model twice with the same seed and rows and compares the holdout answers row by row",
        "two fits without the search: about one training (quickstart: 0.6 s)",
        reproducible,
    ),
    OnDemandCheck(
        "model.slices",
        "scores production on every declared segment of its holdout and names the worst slices",
        "the holdout rebuilt and scored once (quickstart: 0.2 s)",
        slices,
    ),
    OnDemandCheck(
        "infra.single_example",
        "replays the newest logged prediction through each step of the version's pipeline and compares",
        "one row replayed (the holdout rebuilt when the log is empty; quickstart: 0.2 s)",
        single_example,
    ),
)

CHECKS: Mapping[str, OnDemandCheck] = {check.id: check for check in _ALL}


def run_checks(project: Project, scope: Scope, ids: Sequence[str]) -> list[CheckResult]:
    """Run the named checks on every model of ``scope`` with a production version (or, without one, its
    newest ready version; models with neither, or no longer in the project file, are skipped), each check on
    each model recorded as a run. A check that raises leaves its run failed and the error goes up.

    Raises:
        ConfigError: an id is not a known check (the message lists the known ones), before anything runs.
    """
    unknown = [i for i in ids if i not in CHECKS]
    if unknown:
        raise ConfigError(f"unknown check(s) {', '.join(unknown)}; known checks: {', '.join(CHECKS)}")
    results: list[CheckResult] = []
    for name in scope.models:
        target = find_target(project, name) if name in project.config.models else None
        if target is None:  # never registered, or no longer declared: nothing to train or judge it by
            continue
        for check_id in ids:
            results.append(record_check(project, check_id, name, _work(project, CHECKS[check_id], target)))
    return results


def _work(project: Project, check: OnDemandCheck, target: Target) -> Callable[[ActiveRun], CheckOutcome]:
    """What :func:`record_check` runs inside the check's run."""
    return lambda _run: check.run(project, target)
