"""The quickstart: a generated example project that shows mlfactory end to end.

``mlfactory quickstart DIR`` writes a small project built around an email spam filter, the classic
case of a model the world changes under. Its data comes from :mod:`mlfactory.quickstart.world`, a
seeded generator that ships with the package: the emails are generated, not collected.
"""

from mlfactory.quickstart.run import run_quickstart
from mlfactory.quickstart.scaffold import init_project

__all__ = ["init_project", "run_quickstart"]
