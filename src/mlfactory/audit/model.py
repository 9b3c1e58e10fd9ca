"""What an audit says, as typed values: the rubric's tests and how each stands, the debt found with its
evidence, and the report that holds both.

The yardstick is the ML Test Score (Breck, Cai, Nielsen, Salib and Sculley, IEEE Big Data 2017): 28 tests in
four sections of seven, each worth 1 when automated, 0.5 when done by hand and 0 when not done; a section's
score is the sum of its tests, and the project's score is the lowest section's, so one neglected area cannot
be hidden by the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Section(StrEnum):
    DATA = "data"  # data and features
    MODEL = "model"  # model development
    INFRASTRUCTURE = "infrastructure"  # ML infrastructure
    MONITORING = "monitoring"


class Status(StrEnum):
    AUTOMATED = "automated"  # done, and the factory does it by itself: 1 point
    MANUAL = "manual"  # done, by a person: 0.5
    MISSING = "missing"  # the evidence says it is not done: 0
    UNDECIDED = "undecided"  # the stores do not hold what would decide it (the outcome says what would): 0


POINTS = {Status.AUTOMATED: 1.0, Status.MANUAL: 0.5, Status.MISSING: 0.0, Status.UNDECIDED: 0.0}


class Severity(StrEnum):
    HIGH = "high"  # wrong answers in production, or a failure nobody would notice
    MEDIUM = "medium"  # debt that makes the next change slow or risky
    LOW = "low"  # clutter and hygiene


SEVERITY_ORDER = {Severity.HIGH: 0, Severity.MEDIUM: 1, Severity.LOW: 2}

# JSON values: ids, counts, rates, names. Evidence is free-form by nature (each finding names its own)
Evidence = Mapping[str, Any]


@dataclass(frozen=True)
class Scope:
    """What one audit looks at: these models (every model of the project when the audit is not narrowed)
    as of ``now``."""

    models: tuple[str, ...]
    now: datetime


@dataclass(frozen=True)
class Finding:
    """One piece of debt: which check found it, how bad it is, the evidence, why it matters, how to fix it."""

    check: str  # e.g. "data.unused_source", "model.simpler_baseline"
    severity: Severity
    title: str  # one line naming the thing: "source 'clicks' is used by no model or feature view"
    evidence: Evidence
    why: str
    fix: str
    model: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "severity": self.severity.value,
            "title": self.title,
            "evidence": dict(self.evidence),
            "why": self.why,
            "fix": self.fix,
            "model": self.model,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Finding:
        return cls(
            check=str(data["check"]),
            severity=Severity(data["severity"]),
            title=str(data["title"]),
            evidence=dict(data.get("evidence") or {}),
            why=str(data.get("why", "")),
            fix=str(data.get("fix", "")),
            model=data.get("model"),
        )


@dataclass(frozen=True)
class TestOutcome:
    """How one of the rubric's 28 tests stands for the project."""

    id: str  # "data.1" … "monitoring.7", the paper's numbering within its section
    section: Section
    title: str  # the paper's test, in a line
    status: Status
    evidence: str  # what was found, with ids and numbers ("quality gates on 2 of 2 models: spam, churn")
    fix: str = ""  # what would raise it to automated; empty when it is
    decided_by: str = ""  # what mlfactory reads to decide it, or (undecided) what evidence would decide it

    __test__ = False  # a record, not a test case for pytest to collect

    @property
    def points(self) -> float:
        return POINTS[self.status]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "section": self.section.value,
            "title": self.title,
            "status": self.status.value,
            "points": self.points,
            "evidence": self.evidence,
            "fix": self.fix,
            "decided_by": self.decided_by,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TestOutcome:
        return cls(
            id=str(data["id"]),
            section=Section(data["section"]),
            title=str(data["title"]),
            status=Status(data["status"]),
            evidence=str(data.get("evidence", "")),
            fix=str(data.get("fix", "")),
            decided_by=str(data.get("decided_by", "")),
        )


@dataclass(frozen=True)
class AuditReport:
    """One audit: the rubric's outcomes, the findings (worst first) and the on-demand checks run for it."""

    created_at: datetime
    models: tuple[str, ...]
    tests: tuple[TestOutcome, ...]
    findings: tuple[Finding, ...]
    checks_run: tuple[str, ...] = ()
    id: str | None = None  # set once stored
    sections: Mapping[Section, float] = field(init=False)

    def __post_init__(self) -> None:
        totals = dict.fromkeys(Section, 0.0)
        for test in self.tests:
            totals[test.section] += test.points
        object.__setattr__(self, "sections", totals)

    @property
    def score(self) -> float:
        """The lowest section's total: the ML Test Score."""
        return min(self.sections.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": self.created_at.isoformat(),
            "models": list(self.models),
            "score": self.score,
            "sections": {s.value: v for s, v in self.sections.items()},
            "tests": [t.to_json() for t in self.tests],
            "findings": [f.to_json() for f in self.findings],
            "checks_run": list(self.checks_run),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuditReport:
        return cls(
            created_at=datetime.fromisoformat(data["created_at"]),
            models=tuple(data.get("models", ())),
            tests=tuple(TestOutcome.from_json(t) for t in data.get("tests", ())),
            findings=tuple(Finding.from_json(f) for f in data.get("findings", ())),
            checks_run=tuple(data.get("checks_run", ())),
            id=data.get("id"),
        )


def worst_first(findings: list[Finding]) -> tuple[Finding, ...]:
    """Findings ordered for reading: highest severity first, then by check and title."""
    order = sorted(findings, key=lambda f: (SEVERITY_ORDER[f.severity], f.check, f.model or "", f.title))
    return tuple(order)
