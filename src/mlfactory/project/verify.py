"""`mlfactory verify`: is everything the stores say consistent with what is there?

Every stored artifact is re-hashed; every artifact a dataset version, run or model version names must exist;
every alias, routing policy and rollout must point at a registered version; and no temporary file may be
left where writers put them (a crash between writing and renaming leaves one: harmless to readers, but worth
knowing and safe to delete once no writer is running).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlfactory.errors import IntegrityError
from mlfactory.serving.policy import RoutingPolicy
from mlfactory.stores.fs import open_location

if TYPE_CHECKING:
    from mlfactory.project.core import Project


@dataclass(frozen=True)
class Finding:
    """One thing that is not as it should be: what kind, where, and what to do."""

    kind: str  # artifact.modified | artifact.missing | alias.dangling | routing.dangling | rollout.dangling
    #            | leftover
    subject: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class VerifyReport:
    """How much was checked, and what was found."""

    checked: dict[str, int]
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked": self.checked, "findings": [f.to_dict() for f in self.findings]}


def _artifacts(project: Project, checked: dict[str, int]) -> Iterator[Finding]:
    store = project.artifacts
    for digest in store.digests():
        checked["artifacts"] += 1
        try:
            store.verify(digest)  # re-hashes the stored bytes (on a bucket, not a cached copy)
        except IntegrityError as exc:
            yield Finding("artifact.modified", digest, str(exc))
    named: dict[str, str] = {}
    for ds in project.metadata.list_datasets():
        named[ds.artifact] = f"dataset {ds.id}"
    for run in project.metadata.list_runs(include_archived=True):  # archived ones can be restored
        named.update({digest: f"run {run.id} ({name})" for name, digest in run.artifacts.items()})
    for model in project.metadata.list_model_names():
        for mv in project.metadata.list_model_versions(model, include_archived=True):
            named[mv.artifact] = f"model version {mv.ref}"
    for digest, owner in named.items():
        checked["references"] += 1
        if not store.exists(digest):
            yield Finding(
                "artifact.missing",
                digest,
                f"{owner} names artifact {digest[:12]}, which is not in the artifact store; restore it "
                "from a backup (or retrain, for a model)",
            )


def _references(project: Project, checked: dict[str, int]) -> Iterator[Finding]:
    meta = project.metadata
    known = {
        m: {v.version for v in meta.list_model_versions(m, include_archived=True)}
        for m in meta.list_model_names()
    }
    for (model, alias), version in meta.get_aliases().items():
        checked["aliases"] += 1
        if version not in known.get(model, set()):
            yield Finding(
                "alias.dangling", f"{model}@{alias}", f"points at {model}/{version}, which does not exist"
            )
    for model, stored in meta.get_routing_policies().items():
        checked["routes"] += 1
        for version in sorted(RoutingPolicy.from_dict(stored).versions() - known.get(model, set())):
            yield Finding(
                "routing.dangling",
                model,
                f"the routing policy sends rows to {model}/{version}, which does not exist; "
                f"`mlfactory deploy clear {model}` removes it",
            )
    for rollout in meta.list_rollouts():
        checked["rollouts"] += 1
        for role, named in (("challenger", rollout.challenger), ("champion", rollout.champion)):
            if named is not None and named not in known.get(rollout.model, set()):
                yield Finding(
                    "rollout.dangling",
                    rollout.model,
                    f"the rollout ({rollout.state}) names {role} {rollout.model}/{named}, "
                    "which does not exist",
                )


def _leftovers(project: Project) -> Iterator[Finding]:
    scratch = open_location(project.loaded.config.stores.datasets, project.loaded.root)  # remote: no scratch
    folders: list[tuple[str, Sequence[object]]] = [
        ("artifact store", project.artifacts.leftovers()),
        ("dataset scratch space", _tmp_files(Path(scratch.root)) if scratch.local else []),
        ("prediction log", project.predictions.leftovers()),
    ]
    for where, paths in folders:
        for path in paths:
            yield Finding(
                "leftover",
                str(path),
                f"a temporary file in the {where}, left by a writer that stopped before renaming it; it is "
                "never read, and can be deleted once no mlfactory process is writing",
            )


def _tmp_files(root: Path) -> list[Path]:
    return sorted(root.rglob(".tmp-*")) if root.exists() else []


def verify_project(project: Project) -> VerifyReport:
    """Check the project's stores against each other; see the module docstring for what is checked."""
    checked = {"artifacts": 0, "references": 0, "aliases": 0, "routes": 0, "rollouts": 0}
    findings = [*_artifacts(project, checked), *_references(project, checked), *_leftovers(project)]
    return VerifyReport(checked, findings)
