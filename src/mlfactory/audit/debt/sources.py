"""Data dependency debt: sources nobody owns or describes, sources that no longer answer, sources nothing
uses, schemas that moved under a served model, and served inputs from sources the project does not declare."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlfactory.audit.debt.reads import newest_dataset, production_version, view_sources
from mlfactory.audit.model import Finding, Severity

if TYPE_CHECKING:
    from mlfactory.audit.model import Scope
    from mlfactory.config import SourceConfig
    from mlfactory.project import Project

UNKNOWN_OWNER = "unknown"  # SourceConfig.owner when the project file names nobody


def owner_missing(project: Project) -> list[Finding]:
    """Each declared source without an owner or a description."""
    findings = []
    for name, source in project.config.sources.items():
        lacks = [
            *(["owner"] if source.owner.strip() in ("", UNKNOWN_OWNER) else []),
            *(["description"] if not source.description.strip() else []),
        ]
        if not lacks:
            continue
        findings.append(
            Finding(
                check="data.owner_missing",
                severity=Severity.MEDIUM if "owner" in lacks else Severity.LOW,
                title=f"source '{name}' has no {' and no '.join(lacks)}",
                evidence={"source": name, "missing": lacks, "owner": source.owner},
                why="When a source changes or breaks, nobody is known to ask, and nobody knows what its rows "
                "mean; hidden data dependencies start here.",
                fix=f"set sources.{name}.owner (a team or person) and sources.{name}.description in "
                "mlfactory.yaml",
            )
        )
    return findings


def _missing_path(project: Project, source: SourceConfig) -> str | None:
    """The source's local path when it no longer exists; None when it exists or is not a local path (a
    bucket or a database is not contacted by an audit)."""
    raw = source.path
    if source.kind == "sql" or raw is None or ("://" in raw and not raw.startswith("file://")):
        return None
    try:
        path = project.loaded.path(raw.removeprefix("file://"))
    except ValueError:
        return None
    return None if path.exists() else str(path)


def source_unreachable(project: Project) -> list[Finding]:
    """Sources whose file is gone, or whose newest ingest failed validation."""
    findings = []
    for name, source in project.config.sources.items():
        gone = _missing_path(project, source)
        newest = newest_dataset(project, name)
        if gone is None and (newest is None or newest.valid):
            continue
        evidence: dict[str, Any] = {"source": name}
        if gone is not None:
            evidence["missing_path"] = gone
        if newest is not None and not newest.valid:
            evidence |= {"dataset": newest.id, "reasons": newest.reasons[:5]}
        failed = (
            "its file is missing" if gone else f"its newest snapshot {evidence['dataset']} failed validation"
        )
        findings.append(
            Finding(
                check="data.source_unreachable",
                severity=Severity.HIGH if gone else Severity.MEDIUM,
                title=f"source '{name}' no longer answers: {failed}",
                evidence=evidence,
                why="Retraining and feature computation read this source; they will fail, or quietly keep "
                "training on the last good snapshot while the world moves on.",
                fix=f"restore the data or fix sources.{name} in mlfactory.yaml, then "
                f"`mlfactory ingest {name}`",
            )
        )
    return findings


def unused_sources(project: Project) -> list[Finding]:
    """Declared sources that no model trains on and no feature view reads."""
    views = view_sources(project)
    if views is None:  # the feature module does not load: which sources it reads is not decidable
        return []
    used = {m.source for m in project.config.models.values()} | set(views.values())
    return [
        Finding(
            check="data.unused_source",
            severity=Severity.LOW,
            title=f"source '{name}' is used by no model or feature view",
            evidence={
                "source": name,
                "models": sorted(project.config.models),
                "feature_views": sorted(views),
            },
            why="An unused source is still a dependency someone maintains, ingests and pays for, and a "
            "trap for the next model that picks it up without knowing its state.",
            fix=f"remove sources.{name} from mlfactory.yaml, or use it in a model or feature view",
        )
        for name in project.config.sources
        if name not in used
    ]


@dataclass(frozen=True)
class SchemaChange:
    """How a source's columns differ between two dataset versions."""

    removed: list[str]
    retyped: dict[str, list[str]]  # column -> [type then, type now]
    added: list[str]

    @classmethod
    def between(cls, before: Mapping[str, Any], after: Mapping[str, Any]) -> SchemaChange:
        types = {c: [str(before[c].get("type")), str(after[c].get("type"))] for c in before if c in after}
        return cls(
            removed=sorted(set(before) - set(after)),
            retyped={c: t for c, t in types.items() if t[0] != t[1]},
            added=sorted(set(after) - set(before)),
        )


def _schema_finding(
    project: Project, model: str, trained_id: str, what: str, used: set[str] | None
) -> Finding | None:
    """A finding when the source of dataset ``trained_id`` now has a newest version whose columns were
    removed or retyped; ``used`` are the columns the model reads (None: not known, as for a view's code)."""
    try:
        trained = project.metadata.get_dataset(trained_id)
    except LookupError:
        return None
    newest = newest_dataset(project, trained.source)
    if newest is None or newest.id == trained.id:
        return None
    change = SchemaChange.between(trained.schema.get("columns", {}), newest.schema.get("columns", {}))
    broken = {*change.removed, *change.retyped}
    if not broken:
        return None
    touched = sorted(broken & used) if used is not None else []
    severity = Severity.MEDIUM if used is None else Severity.HIGH if touched else Severity.LOW
    return Finding(
        check="data.schema_changed",
        severity=severity,
        title=f"{what} was trained on {trained.id}; source '{trained.source}' has changed schema since "
        f"({newest.id})",
        evidence={
            "trained_on": trained.id,
            "newest": newest.id,
            "removed": change.removed,
            "retyped": change.retyped,
            "added": change.added,
            "used_columns_changed": touched,
        },
        why="Columns the served version learned from were removed or changed type: its next retrain or "
        "feature refresh breaks, or the model silently reads something else than it learned.",
        fix=f"check the change with the source's owner, update the model or view, then "
        f"`mlfactory train {model}`",
        model=model,
    )


def schema_changed(project: Project, scope: Scope) -> list[Finding]:
    """Production versions whose source, or whose feature views' sources, changed schema since training."""
    findings = []
    for model in scope.models:
        version = production_version(project, model)
        if version is None:
            continue
        used = {*version.signature.input_names, version.signature.label}
        targets: list[tuple[str | None, str, set[str] | None]] = [
            (version.lineage.dataset, version.ref, used)
        ]
        features = version.lineage.features
        for view, dataset in (features.feature_datasets if features else {}).items():
            targets.append((dataset, f"feature view '{view}' of {version.ref}", None))
        for dataset_id, what, columns in targets:
            found = _schema_finding(project, model, dataset_id, what, columns) if dataset_id else None
            findings += [found] if found else []
    return findings


def _view_source(project: Project, view: str, code_version: str) -> str | None:
    records = project.metadata.list_feature_views(view)
    return next((r.source for r in records if r.code_version == code_version), None)


def undeclared_sources(project: Project, scope: Scope) -> list[Finding]:
    """Production versions trained on, or looking features up from, a source the project file lacks."""
    declared = set(project.config.sources)
    findings = []
    for model in scope.models:
        version = production_version(project, model)
        if version is None:
            continue
        origins = {"training data": version.lineage.source}
        service = version.signature.feature_service
        for spec in service.views if service else ():
            origins[f"feature view '{spec.name}'"] = _view_source(project, spec.name, spec.code_version)
        for what, source in origins.items():
            if source is None or source in declared:
                continue
            findings.append(
                Finding(
                    check="data.undeclared_source",
                    severity=Severity.HIGH,
                    title=f"{version.ref} serves inputs from source '{source}' ({what}), which the "
                    "project file does not declare",
                    evidence={
                        "version": version.ref,
                        "source": source,
                        "via": what,
                        "declared": sorted(declared),
                    },
                    why="Nobody owns, validates or monitors an undeclared source; when it changes, the "
                    "production model's inputs change without any check noticing.",
                    fix=f"declare sources.{source} (kind, path, owner, columns) in mlfactory.yaml, or "
                    f"retrain {model} on declared sources: `mlfactory train {model}`",
                    model=model,
                )
            )
    return findings


def find_source_debt(project: Project, scope: Scope) -> list[Finding]:
    """Every data dependency finding: the project's sources, and the audited models' served versions."""
    return [
        *owner_missing(project),
        *source_unreachable(project),
        *unused_sources(project),
        *schema_changed(project, scope),
        *undeclared_sources(project, scope),
    ]
