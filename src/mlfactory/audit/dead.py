"""Dead experiments: runs never registered, versions never served or not served for a long time, and the
feature views, sources and models nothing uses, each with the evidence that makes it dead.

The audit reports them as findings; `mlfactory prune` archives the runs and versions among them
(:meth:`DeadThings.plan`). Nothing that lineage still needs is ever dead: a run that trained a version that
is not archived, a version holding an alias or a route or named by a rollout, the newest version of a model,
and a champion that a live version's lineage records. Dataset versions are never dead here: a live version's
lineage may name them, and archiving covers only runs and versions.

Reads are bounded: the runs come from one indexed store query (ended, old, without a version), versions and
alias and routing events per model in scope, and the project's declarations.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from mlfactory.audit.model import Finding, Scope, Severity
from mlfactory.audit.recorded import CHECK_TAG
from mlfactory.entities import Event, ModelVersion, Run
from mlfactory.errors import ConfigError, NotFoundError
from mlfactory.project.prune import TRIAL_TAG, PruneItem, PrunePlan
from mlfactory.serving.policy import RoutingPolicy

if TYPE_CHECKING:
    from mlfactory.project import Project

T = TypeVar("T")
K = TypeVar("K")

OLDER_THAN = timedelta(days=30)  # what has been dead this long is reported and pruned
FIRST_IDS = 5  # ids named in a finding's evidence; the count says how many there are
SERVING_KINDS = ("alias.set", "alias.rollback", "alias.removed", "routing.set", "routing.cleared")

UNREGISTERED_RUNS = "dead.unregistered_runs"
UNSERVED_VERSIONS = "dead.unserved_versions"
STALE_VERSIONS = "dead.stale_versions"
UNDECLARED_MODELS = "dead.undeclared_models"
UNUSED_VIEWS = "dead.unused_views"
UNUSED_SOURCES = "dead.unused_sources"


@dataclass(frozen=True)
class DeadRun:
    """A run that ended long ago without a model version (or a search trial of such a run)."""

    id: str
    model: str  # its ``model`` tag, else its name
    started_at: datetime
    reason: str
    parent: str | None = None  # the search run it was a trial of


@dataclass(frozen=True)
class DeadVersion:
    """A version nothing serves or will serve, with the check that found it."""

    name: str
    version: int
    check: str  # UNSERVED_VERSIONS, STALE_VERSIONS or UNDECLARED_MODELS
    reason: str
    created_at: datetime
    last_served: datetime | None = None  # when it lost its last alias or route
    run_id: str | None = None  # the run that trained it (archived with it)

    @property
    def ref(self) -> str:
        return f"{self.name}/{self.version}"


@dataclass(frozen=True)
class Unused:
    """A declared feature view or source nothing uses: removed from the project, not archived."""

    check: str  # UNUSED_VIEWS or UNUSED_SOURCES
    name: str
    reason: str


@dataclass(frozen=True)
class DeadThings:
    """Everything dead in a scope as of ``cutoff`` (the scope's time less ``older_than``)."""

    cutoff: datetime
    older_than: timedelta
    runs: tuple[DeadRun, ...]
    versions: tuple[DeadVersion, ...]
    unused: tuple[Unused, ...]

    def plan(self) -> PrunePlan:
        """What `mlfactory prune` archives: the dead versions and runs (views and sources are removed from
        the project by hand)."""
        versions = [PruneItem("version", v.ref, v.name, v.check, v.reason, v.run_id) for v in self.versions]
        runs = [PruneItem("run", r.id, r.model, UNREGISTERED_RUNS, r.reason) for r in self.runs]
        return PrunePlan((*versions, *runs))

    def findings(self) -> list[Finding]:
        """One finding per kind of dead thing and model, with the count and the first ids. Unused sources
        are left to the data dependencies' ``data.unused_source`` (:mod:`mlfactory.audit.debt.sources`,
        the same rule), so the audit names each once."""
        days = self.older_than.total_seconds() / 86400
        out = [_runs_finding(model, list(runs), days) for model, runs in _by(self.runs, lambda r: r.model)]
        for (check, model), versions in _by(self.versions, lambda v: (v.check, v.name)):
            out.append(_versions_finding(check, model, list(versions), days))
        views = [u for u in self.unused if u.check == UNUSED_VIEWS]
        return [*out, _views_finding(views)] if views else out


def find_dead(project: Project, scope: Scope, *, older_than: timedelta = OLDER_THAN) -> DeadThings:
    """The dead runs, versions, views and sources of the scope's models (and, when the scope is the whole
    project, of every run and stored model), as of ``scope.now``."""
    cutoff = scope.now - older_than
    whole = _whole_project(project, scope)
    names = set(scope.models) | (set(project.metadata.list_model_names()) if whole else set())
    versions = _dead_versions(project, sorted(names), cutoff)
    runs = _dead_runs(project, cutoff, None if whole else set(scope.models))
    unused = _unused(project) if whole else ()
    return DeadThings(cutoff, older_than, runs, versions, unused)


def project_scope(project: Project, now: datetime | None = None) -> Scope:
    """The whole project's scope (every model the project file declares) as of ``now`` (default: now): what
    `mlfactory prune` looks at."""
    return Scope(tuple(sorted(project.config.models)), now or datetime.now(UTC))


def _whole_project(project: Project, scope: Scope) -> bool:
    """Whether the scope covers every declared model (an audit not narrowed to some): then runs of any
    name, stored models the project file no longer declares, and unused views and sources are looked at."""
    return set(project.config.models) <= set(scope.models)


def _by(things: Iterable[T], key: Callable[[T], K]) -> list[tuple[K, list[T]]]:
    """``things`` grouped by ``key``, the groups ordered by key."""
    grouped: dict[K, list[T]] = defaultdict(list)
    for thing in things:
        grouped[key(thing)].append(thing)
    return sorted(grouped.items(), key=lambda kv: str(kv[0]))


# -- runs -----------------------------------------------------------------------------------------------


def _dead_runs(project: Project, cutoff: datetime, models: set[str] | None) -> tuple[DeadRun, ...]:
    """Ended runs older than ``cutoff`` without a version, except the audit's own check runs (the rubric
    reads them) and search trials whose search run is still live (they are its version's evidence)."""
    candidates = [
        r for r in project.metadata.unregistered_runs(started_before=cutoff) if CHECK_TAG not in r.tags
    ]
    dead_ids = {r.id for r in candidates}
    parents = {r.tags[TRIAL_TAG] for r in candidates if r.tags.get(TRIAL_TAG)} - dead_ids
    gone = dead_ids | _archived(project, parents)
    out = []
    for run in candidates:
        parent = run.tags.get(TRIAL_TAG) or None
        model = run.tags.get("model") or run.name
        if (parent is not None and parent not in gone) or (models is not None and model not in models):
            continue
        out.append(DeadRun(run.id, model, run.started_at, _run_reason(run, parent, cutoff), parent))
    return tuple(out)


def _archived(project: Project, run_ids: set[str]) -> set[str]:
    """Which of these runs are archived (none when one cannot be read: then every trial is kept)."""
    try:
        return {r.id for r in project.metadata.get_runs(sorted(run_ids)) if r.archived}
    except NotFoundError:
        return set()


def _run_reason(run: Run, parent: str | None, cutoff: datetime) -> str:
    if parent is not None:
        return "a search trial of a run that registered no model version"  # one reason: one archive event
    return f"{run.status.value} before {cutoff:%Y-%m-%d} without registering a model version"


# -- versions -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Served:
    """A model's serving history from its alias and routing events: what was ever served, when each
    version stopped being served, and what is served now."""

    ever: frozenset[int]
    stopped: dict[int, datetime]
    now: frozenset[int]


def _served(events: Sequence[Event], now_served: set[int]) -> _Served:
    aliases: dict[str, int] = {}
    routed: set[int] = set()
    ever: set[int] = set()
    stopped: dict[int, datetime] = {}
    for e in events:  # oldest first
        before = set(aliases.values()) | routed
        if e.kind.startswith("alias."):
            alias, to = str(e.payload.get("alias")), e.payload.get("to")
            if to is None:
                aliases.pop(alias, None)
            else:
                aliases[alias] = int(to)
        else:
            policy = e.payload.get("to")
            routed = RoutingPolicy.from_dict(policy).versions() if policy else set()
        after = set(aliases.values()) | routed
        ever |= after
        stopped |= dict.fromkeys(before - after, e.time)
    return _Served(frozenset(ever | now_served), stopped, frozenset(now_served))


def _dead_versions(project: Project, names: list[str], cutoff: datetime) -> tuple[DeadVersion, ...]:
    """Versions never served or not served since ``cutoff``, then freed of every champion a live version's
    lineage records (repeated until nothing changes: a kept champion keeps its own champion)."""
    meta, state = project.metadata, project.metadata.routing_state()
    rollouts = {
        (r.model, v) for r in meta.list_rollouts() for v in (r.challenger, r.champion) if v is not None
    }
    declared = set(project.config.models)
    dead: dict[str, DeadVersion] = {}
    champion: dict[str, str | None] = {}
    for name in names:
        served_now = {v for (n, _), v in state.aliases.items() if n == name}
        if name in state.policies:
            served_now |= RoutingPolicy.from_dict(state.policies[name]).versions()
        served_now |= {v for n, v in rollouts if n == name}
        served = _served(meta.list_events(model=name, kinds=SERVING_KINDS), served_now)
        try:
            versions = meta.list_model_versions(name, include_archived=True)
        except NotFoundError:  # declared, never trained
            continue
        newest = max(v.version for v in versions)
        for mv in versions:
            found = _dead_version(mv, served, newest, cutoff, name in declared)
            if found is not None:
                dead[mv.ref] = found
            if not mv.archived:
                champion[mv.ref] = mv.lineage.champion
    return tuple(dead[ref] for ref in _free_of_champions(dead, champion))


def _dead_version(
    mv: ModelVersion, served: _Served, newest: int, cutoff: datetime, declared: bool
) -> DeadVersion | None:
    if mv.archived or mv.version in served.now:
        return None
    stopped, run = served.stopped.get(mv.version), mv.run_id
    if not declared:
        why = "its model is in no project file entry and nothing serves it"
        return DeadVersion(mv.name, mv.version, UNDECLARED_MODELS, why, mv.created_at, stopped, run)
    if mv.version == newest:
        return None
    if mv.version not in served.ever and mv.created_at < cutoff:
        why = f"{mv.status.value}, registered before {cutoff:%Y-%m-%d}, never held an alias or a route"
        return DeadVersion(mv.name, mv.version, UNSERVED_VERSIONS, why, mv.created_at, None, run)
    if stopped is not None and mv.version in served.ever and stopped < cutoff:
        why = f"not served since before {cutoff:%Y-%m-%d}"
        return DeadVersion(mv.name, mv.version, STALE_VERSIONS, why, mv.created_at, stopped, run)
    return None


def _free_of_champions(dead: dict[str, DeadVersion], champion: dict[str, str | None]) -> list[str]:
    """The dead refs no live version names as its champion (``champion``: every version that is not
    archived -> its lineage's champion); a dead version so named is live, and its own champion with it."""
    kept = set(dead)
    while True:
        needed = {champion[ref] for ref in champion if ref not in kept}
        freed = kept - needed
        if freed == kept:
            return sorted(kept, key=lambda ref: (dead[ref].name, dead[ref].version))
        kept = freed


# -- views and sources ------------------------------------------------------------------------------------


def _unused(project: Project) -> tuple[Unused, ...]:
    """Feature views no model's feature service includes, and sources no model or view reads. Nothing is
    said when the feature module cannot be loaded: what uses a source would not be known."""
    try:
        repo = project.features.repo
    except ConfigError:
        return ()
    models = project.config.models.values()
    services = {m.feature_service for m in models if m.feature_service}
    used_views = {
        sel.view.name for s in services if s in repo.services for sel in repo.services[s].selections()
    }
    views = [
        Unused(UNUSED_VIEWS, name, "no feature service of a declared model includes it")
        for name in sorted(set(repo.views) - used_views)
    ]
    read = {m.source for m in models} | {v.source for v in repo.views.values()}
    sources = [
        Unused(UNUSED_SOURCES, name, "no declared model or feature view reads it")
        for name in sorted(set(project.config.sources) - read)
    ]
    return (*views, *sources)


# -- findings ---------------------------------------------------------------------------------------------

PRUNE_FIX = "`mlfactory prune --dry-run` lists what would be archived; `mlfactory prune` archives it"


def _first(ids: Sequence[str]) -> list[str]:
    return list(ids[:FIRST_IDS])


def _runs_finding(model: str, runs: list[DeadRun], days: float) -> Finding:
    trials = sum(1 for r in runs if r.parent)
    oldest = min(r.started_at for r in runs)
    return Finding(
        check=UNREGISTERED_RUNS,
        severity=Severity.LOW,
        title=f"{len(runs)} runs of '{model}' ended over {days:g} days ago without registering a version",
        evidence={
            "runs": len(runs),
            "search_trials": trials,
            "first_ids": _first([r.id for r in runs]),
            "oldest_started": oldest.isoformat(),
            "older_than_days": days,
        },
        why="Experiments nobody registered crowd the runs list and hide the runs that led to a model.",
        fix=f"{PRUNE_FIX} (an archived run keeps every record; `mlfactory prune --restore RUN_ID` brings "
        "it back)",
        model=model,
    )


_VERSION_TITLES = {
    UNSERVED_VERSIONS: "{n} versions of '{model}' were never served in {days:g} days",
    STALE_VERSIONS: "{n} versions of '{model}' have not been served for over {days:g} days",
    UNDECLARED_MODELS: "model '{model}' has {n} stored versions but no entry in the project file",
}
_VERSION_WHY = {
    UNSERVED_VERSIONS: "Versions that never took traffic make it harder to see which models were real "
    "candidates, and each one keeps a packaged model and profile in the stores.",
    STALE_VERSIONS: "Long-retired versions that no live version's lineage needs are clutter in every "
    "listing and rollback choice.",
    UNDECLARED_MODELS: "A stored model the project no longer declares cannot be retrained or monitored; "
    "its versions are leftovers of a removed or renamed model.",
}


def _versions_finding(check: str, model: str, versions: list[DeadVersion], days: float) -> Finding:
    evidence: dict[str, object] = {
        "versions": len(versions),
        "first_refs": _first([v.ref for v in versions]),
        "oldest_created": min(v.created_at for v in versions).isoformat(),
        "older_than_days": days,
    }
    served = [v.last_served for v in versions if v.last_served is not None]
    if served:
        evidence["last_served"] = max(served).isoformat()
    fix = PRUNE_FIX + " with the runs that trained them"
    if check == UNDECLARED_MODELS:
        fix = f"declare '{model}' again under 'models:' if it is still wanted; otherwise {PRUNE_FIX}"
    return Finding(
        check=check,
        severity=Severity.LOW,
        title=_VERSION_TITLES[check].format(n=len(versions), model=model, days=days),
        evidence=evidence,
        why=_VERSION_WHY[check],
        fix=fix,
        model=model,
    )


def _views_finding(views: list[Unused]) -> Finding:
    names = [u.name for u in views]
    return Finding(
        check=UNUSED_VIEWS,
        severity=Severity.LOW,
        title=f"{len(names)} feature views are used by no model: {', '.join(names)}",
        evidence={"feature_views": names},
        why="A view nothing trains or serves with is still computed and materialized, and still breaks when "
        "its source changes.",
        fix="remove the views from the feature module, or add them to a model's feature service",
    )
