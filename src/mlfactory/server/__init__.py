"""The HTTP server: ``create_app(settings)``, routers per area, and helpers to run it in or out of process."""

from mlfactory.server.app import create_app
from mlfactory.server.run import RunningServer, ServerProcess, start_server, start_server_process
from mlfactory.server.settings import ServerSettings

__all__ = [
    "RunningServer",
    "ServerProcess",
    "ServerSettings",
    "create_app",
    "start_server",
    "start_server_process",
]
