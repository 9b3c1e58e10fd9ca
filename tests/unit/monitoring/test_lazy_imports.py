"""A monitoring run imports only what it runs: what each import loads, never how long it takes.

Each check runs in a fresh interpreter, so nothing this test process imported counts.
"""

import json
import subprocess
import sys
from importlib import import_module
from types import ModuleType

import pytest

import mlfactory.data
import mlfactory.monitoring
import mlfactory.stores.predictions

# what only comparing files, rendering pages, building references or writing the log needs
NOT_ON_THE_RUN_PATH = (
    "jinja2",
    "plotly",
    "sklearn",
    "scipy.stats",
    "urllib.request",
    "mlfactory.monitoring.baseline",
    "mlfactory.monitoring.compare",
    "mlfactory.monitoring.html",
    "mlfactory.stores.predictions.writer",
)


def loaded_after(statement: str, names: tuple[str, ...]) -> list[str]:
    """Which of ``names`` are in ``sys.modules`` after running ``statement`` in a fresh interpreter."""
    probe = f"import json, sys\n{statement}\nprint(json.dumps([m for m in {names!r} if m in sys.modules]))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def test_importing_the_packages_loads_none_of_their_modules() -> None:
    heavy = ("numpy", "pandas", "pyarrow", "scipy", "duckdb", "sqlalchemy", "pydantic")
    submodules = ("mlfactory.monitoring.service", "mlfactory.monitoring.drift", "mlfactory.data.profile")
    assert loaded_after("import mlfactory.monitoring, mlfactory.data", heavy + submodules) == []


def test_the_monitoring_run_path_leaves_comparing_rendering_and_writing_unloaded() -> None:
    assert loaded_after("import mlfactory.monitoring.service", NOT_ON_THE_RUN_PATH) == []


def test_opening_a_project_leaves_lineage_records_unloaded() -> None:
    statement = "import mlfactory.project"
    assert loaded_after(statement, ("mlfactory.project.lineage_records",)) == []


def test_the_schema_does_not_load_the_postgresql_dialect() -> None:
    statement = "from mlfactory.stores.sql import schema"
    assert loaded_after(statement, ("sqlalchemy.dialects.postgresql",)) == []


def test_the_live_runs_index_keeps_its_sqlite_predicate() -> None:
    from mlfactory.stores.sql import schema

    (index,) = [i for i in schema.runs.indexes if i.name == "ix_runs_live_started"]
    assert str(index.dialect_options["sqlite"]["where"]) == "archived_at IS NULL"


@pytest.mark.parametrize("package", [mlfactory.monitoring, mlfactory.data, mlfactory.stores.predictions])
def test_every_lazy_name_is_the_object_its_module_defines(package: ModuleType) -> None:
    lazy: dict[str, str] = vars(package)["_LAZY"]
    for name, module in lazy.items():
        assert getattr(package, name) is getattr(import_module(module), name)


@pytest.mark.parametrize("package", [mlfactory.monitoring, mlfactory.data, mlfactory.stores.predictions])
def test_every_public_name_resolves_and_unknown_names_fail(package: ModuleType) -> None:
    for name in vars(package)["__all__"]:
        assert getattr(package, name) is not None, name
    with pytest.raises(AttributeError, match="no_such_name"):
        package.no_such_name  # noqa: B018
