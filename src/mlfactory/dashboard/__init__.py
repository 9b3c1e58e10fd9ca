"""The dashboard: the factory live in a browser, server-rendered (Jinja2), updated in place with htmx,
plotted with Plotly, every script served by the app itself.

``mlfactory ui`` serves it alone; ``mlfactory serve`` mounts it at ``/ui`` (``server.ui``). It reads the
project only through :class:`~mlfactory.project.Project` methods, the same the CLI calls.
"""

from mlfactory.dashboard.app import create_dashboard

__all__ = ["create_dashboard"]
