"""The dashboard as a FastAPI app: mounted at ``/ui`` by the server, or served alone by ``mlfactory ui``.

:func:`create_dashboard` builds it over a function returning the opened project, so the server shares its
own opened project (and ``mlfactory ui`` the one it opened).
Scripts and styles are served from this package and from the installed ``plotly`` package: a page loads
nothing from another host.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from mlfactory.config import ServerConfig
from mlfactory.dashboard.access import Viewer, presented
from mlfactory.dashboard.render import render
from mlfactory.errors import MLFactoryError, NotFoundError, UnauthorizedError
from mlfactory.project import Project

# name -> (package, file, media type): the only files /static serves
STATIC = {
    "style.css": ("mlfactory.dashboard", "static/style.css", "text/css"),
    "dashboard.js": ("mlfactory.dashboard", "static/dashboard.js", "text/javascript"),
    "htmx.min.js": ("mlfactory.dashboard", "static/htmx.min.js", "text/javascript"),
    "htmx.LICENSE": ("mlfactory.dashboard", "static/htmx.LICENSE", "text/plain"),
    "plotly.min.js": ("plotly", "package_data/plotly.min.js", "text/javascript"),
}


@dataclass(frozen=True)
class DashboardState:
    """What every request of the dashboard reads: the opened project and the server settings in force."""

    project: Callable[[], Project]
    server: Callable[[], ServerConfig]
    enabled: Callable[[], bool]

    def refresh_seconds(self) -> float:
        """How often live parts refresh: the server's reload interval (routes change no faster)."""
        return max(self.server().reload_interval, 1.0)


class LoginNeeded(UnauthorizedError):
    """Tokens are configured and the request carries none that is known."""


class DashboardOff(NotFoundError):
    """The server was started with ``server.ui: false``."""


def check_enabled(request: Request) -> None:
    if not state(request).enabled():
        raise DashboardOff("the dashboard is turned off on this server (server.ui: false)")


def state(request: Request) -> DashboardState:
    return request.app.state.dashboard  # type: ignore[no-any-return]


def project(request: Request) -> Project:
    return state(request).project()


def current_viewer(request: Request) -> Viewer:
    """The caller, checked against the project's tokens (a plain function: FastAPI runs it in a worker
    thread, as it reads the store)."""
    check_enabled(request)
    s = state(request)
    shared = s.server().token
    opened = s.project()
    if not opened.tokens_configured(shared):
        return Viewer(None, None)
    secret, by_cookie = presented(request)
    token = opened.identify_token(secret, shared) if secret else None
    if token is None:
        raise LoginNeeded("this dashboard needs a token: log in, or send 'Authorization: Bearer <token>'")
    name = token.name if token.name == "server-token" else f"token:{token.name}"
    return Viewer(name, token.role, secret, by_cookie)


ViewerDep = Depends(current_viewer)


@functools.cache
def _static_bytes(name: str) -> bytes:
    package, file, _ = STATIC[name]
    return resources.files(package).joinpath(file).read_bytes()


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginNeeded)
    async def login_needed(request: Request, exc: LoginNeeded) -> Response:
        base = request.scope.get("root_path", "").rstrip("/")
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target = f"{base}/login?{urlencode({'next': here})}"  # back to the same page, filters and all
        if request.headers.get("hx-request"):  # a fragment: send the whole page to the login form
            return Response(status_code=401, headers={"HX-Redirect": target})
        if request.method == "GET" and "text/html" in request.headers.get("accept", "text/html"):
            return RedirectResponse(target, status_code=303)
        return Response(
            str(exc), status_code=401, media_type="text/plain", headers={"WWW-Authenticate": "Bearer"}
        )

    @app.exception_handler(DashboardOff)
    async def turned_off(request: Request, exc: DashboardOff) -> Response:
        return Response(str(exc), status_code=404, media_type="text/plain")

    @app.exception_handler(MLFactoryError)
    async def domain_error(request: Request, exc: MLFactoryError) -> Response:
        return render(
            request, Viewer(None, None), "error.html", {"message": str(exc)}, status=exc.http_status
        )


def create_dashboard(
    project_of: Callable[[], Project],
    *,
    server: Callable[[], ServerConfig] | None = None,
    enabled: Callable[[], bool] | None = None,
) -> FastAPI:
    """The dashboard app over an opened project.

    Args:
        project_of: returns the opened project (called per request; the app does not open or close it).
        server: returns the server settings in force (token, reload interval); default: the project file's.
        enabled: whether to answer at all (the server passes ``server.ui``); default: always.
    """
    from mlfactory.dashboard.pages import router

    app = FastAPI(title="mlfactory dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.dashboard = DashboardState(
        project=project_of,
        server=server or (lambda: project_of().config.server),
        enabled=enabled or (lambda: True),
    )

    @app.get("/static/{name}", include_in_schema=False)
    def static(request: Request, name: str) -> Response:
        check_enabled(request)
        if name not in STATIC:
            raise NotFoundError(f"no static file '{name}'")
        headers = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}
        return Response(_static_bytes(name), media_type=STATIC[name][2], headers=headers)

    app.include_router(router)
    _install_handlers(app)
    return app


__all__ = ["create_dashboard"]
