"""The Audit page: the newest stored audit (or the one chosen by id), its sections, findings and tests,
and the history; user text in findings shown as text."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from mlfactory.audit.model import AuditReport, Finding, Section, Severity, Status, TestOutcome
from mlfactory.project import Project
from unit.dashboard.dashboard_data import EVIL


def report(points: dict[Section, Status], title: str) -> AuditReport:
    tests = tuple(
        TestOutcome(
            f"{s.value}.{i}", s, f"test {i}", points[s] if i == 1 else Status.MISSING, f"evidence {i}"
        )
        for s in Section
        for i in range(1, 8)
    )
    finding = Finding(
        "data.unused_source",
        Severity.MEDIUM,
        title,
        {"source": "clicks", "rows": 12},
        "why",
        "remove it",
        "spam",
    )
    return AuditReport(datetime.now(UTC), ("spam",), tests, (finding,))


def store(project: Project, audit: AuditReport) -> str:
    return project.save_audit(audit.models, audit.score, audit.to_json()).id


def test_without_an_audit_the_page_says_how_to_make_one(client: TestClient) -> None:
    html = client.get("/audit").text
    assert "No audit yet" in html and "mlfactory audit" in html


def test_the_newest_audit_is_shown_with_its_sections_findings_and_history(
    client: TestClient, project: Project
) -> None:
    everything = dict.fromkeys(Section, Status.AUTOMATED)
    first = store(project, report({**everything, Section.DATA: Status.MANUAL}, "first finding"))
    second = store(project, report(everything, EVIL))

    html = client.get("/audit").text
    assert "ML Test Score 1.0 / 7" in html  # each section: one test automated, six missing
    assert EVIL not in html and "&lt;script&gt;" in html  # the finding's title is the project's own text
    assert "clicks" in html and "remove it" in html
    assert len(re.findall(r'<th scope="row">(?:data|model|infrastructure|monitoring)\.\d</th>', html)) == 28
    history = re.findall(r'href="/audit\?id=([0-9a-f]{32})"', html)
    assert history == [second, first]  # newest first

    chosen = client.get(f"/audit?id={first}").text
    assert "ML Test Score 0.5 / 7" in chosen and "first finding" in chosen


def test_an_unknown_audit_id_is_a_404_naming_it(client: TestClient) -> None:
    response = client.get("/audit?id=" + "0" * 32)
    assert response.status_code == 404 and "0" * 32 in response.text
