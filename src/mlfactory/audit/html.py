"""An audit as one self-contained HTML page (no script, no network): the score and its sections, the
rubric's tests with their evidence, the findings worst first, and the scores of earlier audits."""

from __future__ import annotations

from collections.abc import Sequence

import jinja2

from mlfactory.audit.model import AuditReport, Section
from mlfactory.entities import AuditRecord

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("mlfactory.audit", "templates"),
    autoescape=True,  # names, evidence and reasons are the project's own text
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def audit_html(report: AuditReport, history: Sequence[AuditRecord] = ()) -> str:
    """The page for ``report``; ``history``: earlier audits of the same scope, newest first."""
    by_section = {s: [t for t in report.tests if t.section == s] for s in Section}
    return _ENV.get_template("audit.html").render(report=report, by_section=by_section, history=history)
