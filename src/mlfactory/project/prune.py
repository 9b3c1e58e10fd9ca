"""The Project's methods that archive what nothing uses (`mlfactory prune`) and bring it back.

What is dead is decided a floor above, by :func:`mlfactory.audit.dead.find_dead`, whose
:meth:`~mlfactory.audit.dead.DeadThings.plan` is the :class:`PrunePlan` applied here. Archiving deletes
nothing: an archived run or version keeps every record and artifact, leaves the listings, and a version
cannot take traffic until it is restored. A version is archived with the run that trained it and that run's
search trials, so the runs list loses the whole attempt; restoring the version brings them all back.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby

from mlfactory.entities import Event, RunClause
from mlfactory.project.base import ProjectState

TRIAL_TAG = "parent_run"  # a search trial's tag naming the run that searched (mlfactory.project.train)
_VERSION_REF = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+)[/:](?P<version>\d+)$")


@dataclass(frozen=True)
class PruneItem:
    """One thing to archive: a run (``ref`` its id) or a model version (``ref`` NAME/VERSION), the dead
    check that found it, and why."""

    kind: str  # "run" | "version"
    ref: str
    model: str | None
    check: str  # e.g. "dead.unregistered_runs"; a version's run and trials carry the version's check
    reason: str  # the same for every item of a kind found alike, so a prune writes few events
    trained_by: str | None = None  # a version's run

    @property
    def version(self) -> tuple[str, int]:
        """A version item's model and number."""
        name, number = self.ref.rsplit("/", 1)
        return name, int(number)


@dataclass(frozen=True)
class PrunePlan:
    """What a prune archives: the dead runs and versions, each with its reason."""

    items: tuple[PruneItem, ...]

    @property
    def runs(self) -> tuple[PruneItem, ...]:
        return tuple(i for i in self.items if i.kind == "run")

    @property
    def versions(self) -> tuple[PruneItem, ...]:
        return tuple(i for i in self.items if i.kind == "version")


@dataclass(frozen=True)
class PruneResult:
    """What a prune archived (or, on a dry run, would archive): every item, the runs that went along with
    their versions included, and the events written (none on a dry run)."""

    items: tuple[PruneItem, ...]
    dry_run: bool
    events: tuple[Event, ...] = ()


@dataclass(frozen=True)
class RestoreResult:
    """What a restore brought back: the versions (NAME/VERSION) and the run ids, and its events."""

    versions: tuple[str, ...]
    runs: tuple[str, ...]
    events: tuple[Event, ...]


class PruneMethods(ProjectState):
    """The Project's methods that archive what nothing uses (mlfactory prune) and restore it."""

    def prune(self, plan: PrunePlan, *, dry_run: bool = False, actor: str | None = None) -> PruneResult:
        """Archive the plan's versions (each with the run that trained it and that run's trials), then its
        runs; on a dry run only say what would be archived.

        Raises:
            ConflictError: a version took an alias, or a run's version is live, since the plan was made
                (that group is left as it was; run the prune again).
        """
        items = self._with_training_runs(plan)
        if dry_run:
            return PruneResult(items, dry_run=True)
        who, events = self._who(actor), []
        versions = sorted((i for i in items if i.kind == "version"), key=lambda i: (i.model or "", i.reason))
        for (model, reason), group in groupby(versions, key=lambda i: (i.model or "", i.reason)):
            numbers = [i.version[1] for i in group]
            events.append(self.metadata.archive_model_versions(model, numbers, reason=reason, actor=who))
        runs = sorted((i for i in items if i.kind == "run"), key=lambda i: i.reason)
        for reason, run_group in groupby(runs, key=lambda i: i.reason):
            ids = [i.ref for i in run_group]
            events.append(self.metadata.archive_runs(ids, reason=reason, actor=who))
        return PruneResult(items, dry_run=False, events=tuple(events))

    def _with_training_runs(self, plan: PrunePlan) -> tuple[PruneItem, ...]:
        """The plan's items and, for its versions, the live runs that trained them and their search trials
        (read in a few queries whatever their number)."""
        items, seen = list(plan.items), {i.ref for i in plan.runs}
        trained: dict[str, PruneItem] = {
            i.trained_by: i for i in plan.versions if i.trained_by and i.trained_by not in seen
        }
        if not trained:
            return tuple(items)
        for run in self.metadata.get_runs(sorted(trained)):
            if not run.archived:
                version = trained[run.id]
                why = f"trained a version archived as {version.check}: {version.reason}"
                items.append(PruneItem("run", run.id, version.model, version.check, why))
                seen.add(run.id)
        for trial in self.metadata.find_runs([RunClause("tags", TRIAL_TAG, "!=", "")]):
            owner = trained.get(trial.tags.get(TRIAL_TAG, ""))
            if owner is not None and trial.id not in seen:
                why = f"a search trial of a run archived with its version ({owner.check})"
                items.append(PruneItem("run", trial.id, owner.model, owner.check, why))
                seen.add(trial.id)
        return tuple(items)

    def restore(self, refs: Sequence[str], *, actor: str | None = None, reason: str = "") -> RestoreResult:
        """Bring archived versions (NAME/VERSION, with the runs that trained them and their trials) and runs
        (an id or a unique prefix, with their trials) back into the listings and to where they may take
        traffic again. What is not archived is left as it is.

        Raises:
            NotFoundError: a reference names no version or run.
        """
        who, events = self._who(actor), []
        versions: list[str] = []
        runs: list[str] = []
        for ref in refs:
            match = _VERSION_REF.match(ref.strip())
            if match:
                name, number = match.group("name"), int(match.group("version"))
                event = self.metadata.restore_model_versions(name, [number], actor=who, reason=reason)
                events.append(event)
                versions += [f"{name}/{n}" for n in event.payload["versions"]]
                runs += event.payload["runs"]
                trained = self.metadata.get_model_version(name, number).run_id
                ids = self._trials(trained) if trained else []
            else:
                run_id = self.metadata.get_run(ref.strip()).id
                ids = [run_id, *self._trials(run_id)]
            if ids:
                events.append(self.metadata.restore_runs(ids, actor=who, reason=reason))
                runs += events[-1].payload["runs"]
        return RestoreResult(tuple(versions), tuple(dict.fromkeys(runs)), tuple(events))

    def _trials(self, run_id: str) -> list[str]:
        """The ids of a search run's trials, archived or not."""
        clause = RunClause("tags", TRIAL_TAG, "=", run_id)
        return [r.id for r in self.metadata.find_runs([clause], include_archived=True)]
