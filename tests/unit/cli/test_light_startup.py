"""Commands that touch no model start light: what they import, never how long it takes.

Heavy libraries (scikit-learn, pandas, pyarrow, duckdb, the web stack) cost seconds on a busy machine; they
are imported inside the commands that use them. Each check runs in a fresh interpreter, so nothing this test
process imported counts.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlfactory.cli.main import commands

HEAVY = (
    "alembic",
    "duckdb",
    "fastapi",
    "httpx",
    "jinja2",
    "numpy",
    "pandas",
    "plotly",
    "pyarrow",
    "scipy",
    "skops",
    "sklearn",
    "sqlalchemy",
    "starlette",
    "uvicorn",
)
DATABASE = {"alembic", "sqlalchemy"}  # what a command that reads the metadata store needs

PROBE = """
import json, sys
from mlfactory.cli.main import app
code = 0
try:
    app(sys.argv[1:], prog_name="mlfactory")
except SystemExit as exc:
    code = exc.code or 0
except Exception as exc:  # an mlfactory error: main() would print it and exit
    code = type(exc).__name__
print(json.dumps({"code": code, "loaded": sorted(m for m in HEAVY if m in sys.modules)}), file=sys.stderr)
"""


def probe(*args: str, cwd: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", f"HEAVY = {HEAVY!r}\n{PROBE}", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return json.loads(done.stderr.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("light")
    (root / "mlfactory.yaml").write_text("name: light\n")
    return root


def test_importing_the_cli_loads_no_heavy_library(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys, mlfactory.cli.main; print(sorted(m for m in {HEAVY!r} if m in sys.modules))",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_help_and_config_show_load_no_heavy_library(project: Path) -> None:
    assert probe("--help", cwd=project) == {"code": 0, "loaded": []}
    assert probe("config", "show", cwd=project) == {"code": 0, "loaded": []}


@pytest.mark.parametrize(
    "args",
    [
        ["runs", "list"],
        ["events"],
        ["models", "list"],
        ["datasets", "list"],
        ["controller", "status"],
        ["deploy", "status", "spam"],  # an unknown model: the error path stays light too
    ],
)
def test_listing_commands_load_only_the_database_layer(project: Path, args: list[str]) -> None:
    result = probe(*args, cwd=project)
    assert set(result["loaded"]) <= DATABASE, f"{' '.join(args)} imported {result['loaded']}"


BUILT = """
import json, sys
import typer.main
from mlfactory.cli import main
built = []
def counted(real):
    def build(info, **settings):
        built.append(info.name or info.callback.__name__)
        return real(info, **settings)
    return build
for name in ("get_command_from_info", "get_group_from_info"):
    setattr(main, name, counted(getattr(main, name)))
try:
    main.app(sys.argv[1:], prog_name="mlfactory")
except SystemExit:
    pass
print(json.dumps(built), file=sys.stderr)
"""


def built_by(*args: str, cwd: Path) -> list[str]:
    """The subcommands the root turned into click commands while running ``mlfactory ARGS``."""
    done = subprocess.run(
        [sys.executable, "-c", BUILT, *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    return list(json.loads(done.stderr.strip().splitlines()[-1]))


def test_a_command_builds_only_itself(project: Path) -> None:
    assert built_by("config", "show", cwd=project) == ["config"]
    assert built_by("events", "--help", cwd=project) == ["events"]


def test_help_and_a_mistyped_name_still_see_every_command(project: Path) -> None:
    registered = [c.name or c.callback.__name__ for c in commands.registered_commands]  # type: ignore[union-attr]
    groups = [g.name for g in commands.registered_groups]
    assert built_by("--help", cwd=project) == [*registered, *groups]
    mistyped = subprocess.run(
        [sys.executable, "-m", "mlfactory.cli.main", "monitr"], cwd=project, capture_output=True, text=True
    )
    assert mistyped.returncode == 2
    assert "Did you mean 'monitor'" in mistyped.stderr
