"""Templates and the small filters they use: every value escaped, every link keeping its page's filters."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from mlfactory.dashboard.access import Viewer
from mlfactory.dashboard.markdown import render_markdown

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("mlfactory.dashboard", "templates"),
    autoescape=True,  # every template and every value: names, reasons and params are the user's text
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def fmt(value: Any) -> str:
    """A value as a cell shows it: numbers to 4 significant digits, times in UTC to the second."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return f"{value:.4g}"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def iso(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).isoformat(timespec="seconds")


def query(base: Mapping[str, Any], **changes: Any) -> str:
    """The query string of ``base`` with ``changes`` applied (None drops a key; lists repeat it)."""
    merged = {**base, **changes}
    pairs: list[tuple[str, str]] = []
    for key, value in merged.items():
        if value is None or value == "":
            continue
        if isinstance(value, list | tuple):
            pairs += [(key, str(v)) for v in value]
        else:
            pairs.append((key, str(value)))
    return "?" + urlencode(pairs) if pairs else "?"


_ENV.filters["fmt"] = fmt
_ENV.filters["iso"] = iso
_ENV.filters["markdown"] = render_markdown
_ENV.filters["segment"] = lambda text: quote(str(text), safe="")  # one path segment, "/" too
_ENV.globals["query"] = query


def render(
    request: Request,
    viewer: Viewer,
    template: str,
    context: Mapping[str, Any],
    *,
    status: int = 200,
) -> HTMLResponse:
    """A page or fragment, with what every template may use: the app's base path, the caller, the page."""
    html = _ENV.get_template(template).render(
        base=request.scope.get("root_path", "").rstrip("/"),
        viewer=viewer,
        path=request.url.path,
        refresh_s=request.app.state.dashboard.refresh_seconds(),
        **context,
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


SECURITY_HEADERS = {
    # everything comes from this app; Plotly sets inline styles on the elements it draws
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
