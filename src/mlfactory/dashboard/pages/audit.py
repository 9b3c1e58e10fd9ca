"""Audit: the newest stored audit (or the one chosen), its score by section, findings worst first and the
rubric's tests, beside the scores of earlier audits. Audits are run by ``mlfactory audit`` (or CI); the page
only reads them."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from mlfactory.audit.model import AuditReport, Section
from mlfactory.dashboard.access import Viewer
from mlfactory.dashboard.app import ViewerDep, project
from mlfactory.dashboard.render import render

router = APIRouter()


@router.get("/audit", response_class=HTMLResponse)
def audit(
    request: Request,
    viewer: Viewer = ViewerDep,
    audit_id: str = Query("", alias="id"),
    limit: int = Query(20, ge=1, le=200),
) -> HTMLResponse:
    """One audit in full and the history of audits, newest first."""
    opened = project(request)
    history = opened.audits(limit=limit)
    chosen_id = audit_id or (history[0].id if history else "")
    report = None
    if chosen_id:
        record = opened.audit_record(chosen_id)
        assert record.report is not None
        report = AuditReport.from_json({**record.report, "id": record.id})
    by_section = {s: [t for t in report.tests if t.section == s] for s in Section} if report else {}
    context = {"report": report, "by_section": by_section, "history": history, "chosen": chosen_id}
    return render(request, viewer, "audit.html", context)
