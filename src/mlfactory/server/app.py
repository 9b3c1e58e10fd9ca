"""The app factory: ``create_app(settings)`` builds a FastAPI app serving every model of a project.

The lifespan opens the project's stores, loads the served models (before the port accepts requests),
starts the background refresh and the prediction-log writer, and on shutdown stops refreshing, waits for
shadow work, closes the predict threads and flushes the log. Errors map to HTTP in one place
(:func:`_install_error_handlers`): an :class:`~mlfactory.errors.MLFactoryError` answers with its
``http_status`` and ``{"error": message}``; anything else is a 500 whose body holds only an error id
(:class:`InternalErrors`), on a connection that stays usable.
"""

from __future__ import annotations

import gc
import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Mount

import mlfactory
from mlfactory.config import ServerConfig
from mlfactory.dashboard import create_dashboard
from mlfactory.errors import MLFactoryError, ValidationError
from mlfactory.project import Project, open_project
from mlfactory.server.auth import TokenCache
from mlfactory.server.deps import json_response
from mlfactory.server.metrics import MetricsMiddleware, ServerMetrics
from mlfactory.server.monitoring_metrics import MonitoringCollector
from mlfactory.server.openapi import install_openapi
from mlfactory.server.routers import admin, feedback, health, mlflow, native, v2
from mlfactory.server.routers import monitoring as monitoring_router
from mlfactory.server.settings import SETTINGS_ENV, ServerSettings
from mlfactory.serving import ServingRuntime
from mlfactory.serving.lookup import online_features
from mlfactory.serving.recording import LogOutageEvents
from mlfactory.stores.predictions import PredictionLog, open_prediction_log

log = logging.getLogger("mlfactory.server")


def _error_body(request: Request, status: int, message: str, reasons: list[str] | None = None) -> Response:
    path = request.url.path
    if path.startswith("/v2/") and status == 422:
        status = 400  # the V2 protocol signals a bad inference request with 400
    body: dict[str, Any] = {"error": message}
    if reasons:
        body["reasons"] = reasons
    if path.endswith("/invocations"):
        body["error_code"] = "BAD_REQUEST" if status < 500 else "INTERNAL_ERROR"
        body["message"] = message
    return json_response(body, status)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(MLFactoryError)
    async def domain_error(request: Request, exc: MLFactoryError) -> Response:
        reasons = exc.reasons if isinstance(exc, ValidationError) and len(exc.reasons) > 1 else None
        return _error_body(request, exc.http_status, str(exc), reasons)

    @app.exception_handler(RequestValidationError)
    async def request_invalid(request: Request, exc: RequestValidationError) -> Response:
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        return _error_body(request, 422, "; ".join(parts) or "invalid request")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        return _error_body(request, exc.status_code, str(exc.detail))

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, exc: ClientDisconnect) -> Response:
        # the client closed the connection before its body arrived: nobody to answer, nothing went wrong here
        log.debug("client went away during %s %s", request.method, request.url.path)
        return Response(status_code=499)


class InternalErrors:
    """Pure ASGI middleware answering an unexpected exception with a 500 whose body holds only an error id.

    Starlette's own handler for ``Exception`` answers and then raises the exception again, so uvicorn closes
    the keep-alive connection without a ``Connection: close``: a pooled client lost its next, unrelated
    request on it. Answered here, the exception ends with its response and the connection stays usable.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_wrapper(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            if started:  # half an answer went out: only closing the connection tells the client
                raise
            request = Request(scope)
            error_id = uuid.uuid4().hex[:12]
            log.error(
                "unexpected error %s on %s %s", error_id, request.method, request.url.path, exc_info=exc
            )
            response = _error_body(request, 500, f"internal error {error_id}; the server log has the details")
            await response(scope, receive, send)


ROUTERS = (
    native.router,
    feedback.router,
    v2.router,
    mlflow.router,
    health.router,
    admin.router,
    monitoring_router.router,
)


def _announce(runtime: ServingRuntime) -> None:
    """Log what the server serves, and every version that failed to load."""
    status = runtime.status()
    log.info(
        "serving %s",
        ", ".join(f"{n} v{m['production']}" for n, m in status["models"].items()) or "no models yet",
    )
    for ref, why in status["failures"].items():
        log.error("%s failed to load: %s", ref, why)


def _dashboard(server: Callable[[], FastAPI]) -> Mount:
    """The dashboard at /ui over the server's opened project and settings (``server.ui: false`` turns it
    off); ``server`` returns the app, whose state the lifespan fills."""
    return Mount(
        "/ui",
        create_dashboard(
            lambda: server().state.project,
            server=lambda: server().state.server_config,
            enabled=lambda: server().state.server_config.ui,
        ),
    )


def _prediction_log(project: Project, cfg: ServerConfig, actor: str) -> PredictionLog | None:
    """The log this server writes, started, its outages recorded as events (None when it is off)."""
    if not cfg.prediction_log.enabled:  # the settings given to this server, which may differ from the file's
        return None
    plog = open_prediction_log(project.loaded, cfg.prediction_log).start()
    LogOutageEvents.watching(plog, project.metadata, actor)
    return plog


def create_app(settings: ServerSettings) -> FastAPI:
    """A FastAPI app serving the project in ``settings``; stores open and models load in its lifespan."""
    metrics = ServerMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        project = open_project(settings.project, env=settings.env, actor=settings.actor)
        cfg = settings.server or project.config.server
        plog = _prediction_log(project, cfg, settings.actor)
        features = online_features(project.loaded)
        runtime = ServingRuntime(
            project.registry, cfg, plog, actor=settings.actor, seed=settings.routing_seed, features=features
        )
        metrics.watch(runtime, plog)
        metrics.add_collector(MonitoringCollector(project.metadata))
        app.state.project = project
        app.state.server_config = cfg
        app.state.prediction_log = plog
        app.state.runtime = runtime
        app.state.actor = settings.actor
        app.state.tokens = TokenCache(project.metadata, cfg.token, cfg.reload_interval)
        try:
            runtime.start()
            _announce(runtime)
            # What startup made (libraries, loaded models) lives as long as the server: freezing it keeps
            # full collections from walking millions of objects, a pause of 100+ ms every second under load.
            gc.collect()
            gc.freeze()
            yield
        finally:
            gc.unfreeze()  # a process that embeds the app (tests, notebooks) collects normally again
            await runtime.drain()
            runtime.stop()
            if plog is not None:
                plog.close()
            features.close()
            project.close()

    app = FastAPI(
        title="mlfactory",
        version=mlfactory.__version__,
        lifespan=lifespan,
        description="Every registered model of one project: native, Open Inference Protocol V2 and "
        "MLflow scoring endpoints, with routing, hot swap and a prediction log.",
        routes=[_dashboard(lambda: app)],
    )
    app.state.metrics = metrics
    for router in ROUTERS:
        app.include_router(router)
    _install_error_handlers(app)
    install_openapi(app)
    app.add_middleware(InternalErrors)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


def app_from_environment() -> FastAPI:
    """Factory for worker processes started by ``mlfactory serve --workers N`` (settings come as JSON in
    ``MLFACTORY_SERVE_SETTINGS``, written by the parent process: this is the edge where config is built)."""
    text = os.environ.get(SETTINGS_ENV)
    if not text:
        raise RuntimeError(f"{SETTINGS_ENV} is not set; start the server with `mlfactory serve`")
    return create_app(ServerSettings.from_json(text))
