"""Who is looking: the token of a request (bearer header or the login cookie), what it may do, and the
cross-site request forgery check of every form.

With no token configured (no ``server.token``, no named token ever made) the dashboard shows everything and
changes nothing: pause and resume always need an ``operator`` token, so a page anyone on the machine can
open never steers the controller. With tokens configured nothing is shown without one.

The login cookie holds the token itself, HTTP-only (no script reads it), ``SameSite=Strict`` (no other site's
page sends it) and ``Secure`` (sent only over HTTPS, and by browsers to loopback over HTTP). A form's CSRF
token is an HMAC of a fixed text keyed by the caller's token: it needs no server-side state, so it holds
across worker processes, and no other site can compute it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from fastapi import Request

from mlfactory.entities import Role
from mlfactory.errors import ForbiddenError, UnauthorizedError

COOKIE = "mlf_dashboard"
LOGIN_COOKIE = "mlf_login_csrf"  # double-submit value guarding the login form itself
CSRF_FIELD = "csrf"
_CSRF_TEXT = b"mlfactory dashboard form"
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


@dataclass(frozen=True)
class Viewer:
    """The caller of one request: the token's name and role, or anonymous when no token is configured;
    ``secret`` and ``by_cookie`` decide the form token and whether forms must carry it."""

    name: str | None
    role: Role | None
    secret: str | None = None
    by_cookie: bool = False

    @property
    def can_operate(self) -> bool:
        return self.role is not None and self.role.allows(Role.OPERATOR)

    @property
    def csrf(self) -> str:
        """The token this caller's forms carry (empty for an anonymous caller, who may not change things)."""
        if self.secret is None:
            return ""
        return hmac.new(self.secret.encode(), _CSRF_TEXT, hashlib.sha256).hexdigest()


def bearer(header: str) -> str | None:
    """The secret of an ``Authorization: Bearer …`` header, if that is what it holds."""
    scheme, _, given = header.partition(" ")
    return given.strip() or None if scheme.lower() == "bearer" else None


def presented(request: Request) -> tuple[str | None, bool]:
    """The secret a request carries and whether it came in the login cookie (else the bearer header)."""
    header = bearer(request.headers.get("authorization", ""))
    if header:
        return header, False
    cookie = request.cookies.get(COOKIE)
    return (cookie, True) if cookie else (None, False)


def check_form(viewer: Viewer, given: str | None) -> None:
    """Refuse a changing form unless an operator sent it, with the CSRF token of its own session.

    Raises:
        UnauthorizedError: no token (none configured, or none given).
        ForbiddenError: the role is below ``operator``, or a cookie session's form lacks its CSRF token.
    """
    if viewer.role is None:
        raise UnauthorizedError(
            "changing the project from the dashboard needs an operator token: set server.token or make one "
            "with `mlfactory tokens create NAME --role operator`, then log in"
        )
    if not viewer.can_operate:
        raise ForbiddenError(
            f"{viewer.name} has the role '{viewer.role.value}'; this needs 'operator' or above"
        )
    if viewer.by_cookie and not (given and hmac.compare_digest(given, viewer.csrf)):
        raise ForbiddenError("the form's CSRF token is missing or wrong; reload the page and try again")


def secure_cookie(request: Request) -> bool:
    """Whether the login cookie is marked ``Secure``: always over HTTPS; over plain HTTP only towards a
    loopback address, where browsers accept it (elsewhere plain HTTP would carry the token in the clear)."""
    return request.url.scheme == "https" or (request.url.hostname or "") in LOOPBACK


def new_login_nonce() -> str:
    return secrets.token_urlsafe(24)
