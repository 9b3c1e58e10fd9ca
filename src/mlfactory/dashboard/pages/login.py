"""Logging in with a token (kept in a secure, HTTP-only, SameSite=Strict cookie) and out again."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mlfactory.dashboard.access import COOKIE, LOGIN_COOKIE, Viewer, new_login_nonce, secure_cookie
from mlfactory.dashboard.app import ViewerDep, state
from mlfactory.dashboard.render import render
from mlfactory.errors import ForbiddenError

router = APIRouter()
COOKIE_MAX_AGE = 12 * 3600  # a login lasts a working day


def _base(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def safe_next(request: Request, target: str) -> str:
    """Where to go after logging in: a path of this dashboard only (never another host)."""
    base = _base(request)
    if target.startswith(f"{base}/") and not target.startswith("//") and "\\" not in target:
        return target
    return f"{base}/"


def _login_page(request: Request, target: str, error: str = "", status: int = 200) -> Response:
    nonce = new_login_nonce()
    response = render(
        request,
        Viewer(None, None),
        "login.html",
        {"next": target, "nonce": nonce, "error": error},
        status=status,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        nonce,
        httponly=True,
        samesite="strict",
        secure=secure_cookie(request),
        path=_base(request) or "/",
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "") -> Response:
    return _login_page(request, safe_next(request, next))


@router.post("/login")
def login(request: Request, token: str = Form(""), csrf: str = Form(""), next: str = Form("")) -> Response:
    """Check the token and keep it in the session cookie; a wrong one shows the form again (401)."""
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not (expected and csrf and hmac.compare_digest(expected, csrf)):
        raise ForbiddenError("the login form expired or came from another site; open the login page again")
    s = state(request)
    found = s.project().identify_token(token.strip(), s.server().token) if token.strip() else None
    target = safe_next(request, next)
    if found is None:
        return _login_page(request, target, "that token is not known (or was revoked)", status=401)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        token.strip(),
        max_age=COOKIE_MAX_AGE,
        httponly=True,
        samesite="strict",
        secure=secure_cookie(request),
        path=_base(request) or "/",
    )
    response.delete_cookie(LOGIN_COOKIE, path=_base(request) or "/")
    return response


@router.post("/logout")
def logout(request: Request, viewer: Viewer = ViewerDep, csrf: str = Form("")) -> Response:
    """Forget the session cookie (a CSRF token is needed, so no other site can log a user out)."""
    if viewer.by_cookie and not hmac.compare_digest(csrf, viewer.csrf):
        raise ForbiddenError("the form's CSRF token is missing or wrong; reload the page and try again")
    response = RedirectResponse(f"{_base(request)}/login", status_code=303)
    response.delete_cookie(COOKIE, path=_base(request) or "/")
    return response
