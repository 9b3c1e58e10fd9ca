"""The one builder of real projects for tests: the quickstart's spam project, ingested, optionally trained.

Training is the slow part, so :func:`trained_project` builds each distinct kind of trained project once per
test session (a template in a temporary folder) and copies it for every caller: a copy is a project of its
own (its SQLite store, artifacts and prediction log all live under its folder, by relative paths), so tests
cannot see each other's changes.
"""

from __future__ import annotations

import atexit
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from mlfactory.project import Project, open_project
from mlfactory.quickstart import init_project

Prepare = Callable[[Path], None]


def make_project(
    root: Path,
    *,
    rows: int = 1500,
    metadata_url: str | None = None,
    seed: int = 7,
    feature_service: bool = False,
    env: dict[str, str] | None = None,
    prepare: Prepare | None = None,
) -> Project:
    """The quickstart's spam project (smaller), optionally on another metadata store, ingested.

    Without ``feature_service`` the model takes only the email's own columns (no online lookups), as the
    serving, registry and controller tests expect; the feature store's tests turn it on. ``prepare`` may
    change the project's files before it is opened; ``env`` overrides settings as the environment would.
    """
    init_project(root, rows=rows, seed=seed)
    if not feature_service:
        without_feature_service(root)
    if prepare is not None:
        prepare(root)
    env = dict(env or {})
    if metadata_url:
        env["MLFACTORY_STORES__METADATA"] = metadata_url
    project = open_project(root, env=env, actor="test")
    project.ingest("emails")
    return project


def without_feature_service(root: Path) -> None:
    """Comment out the quickstart model's feature service in the project file at ``root``."""
    y = root / "mlfactory.yaml"
    text = y.read_text()
    for line in ("    feature_service: sender_activity", "    on_missing_features: defaults"):
        assert line in text, f"the quickstart project file no longer has {line.strip()!r}"
        text = text.replace(line, "    # " + line.strip())
    y.write_text(text)


def build_trained(
    root: Path,
    *,
    rows: int = 1200,
    seed: int = 7,
    versions: int = 1,
    production: int | None = 1,
    feature_service: bool = False,
    materialize: bool = False,
    prepare: Prepare | None = None,
) -> Path:
    """Build, at ``root``, the spam project trained ``versions`` times on the same data, with version
    ``production`` promoted (None: no alias); the online store materialized first when asked."""
    with make_project(
        root, rows=rows, seed=seed, feature_service=feature_service, prepare=prepare
    ) as project:
        if materialize:
            project.features.materialize()
        for _ in range(versions):
            project.train("spam")
        if production is not None:
            project.promote("spam", production, reason="test setup")
    return root


_TEMPLATES: dict[tuple[Any, ...], Path] = {}
_CACHE: list[Path] = []


def _cache_dir() -> Path:
    if not _CACHE:
        _CACHE.append(Path(tempfile.mkdtemp(prefix="mlfactory-templates-")))
        atexit.register(shutil.rmtree, _CACHE[0], ignore_errors=True)
    return _CACHE[0]


def trained_project(
    dest: Path,
    *,
    rows: int = 1200,
    seed: int = 7,
    versions: int = 1,
    production: int | None = 1,
    feature_service: bool = False,
    materialize: bool = False,
    prepare: Prepare | None = None,
    variant: str = "",
) -> Path:
    """A trained spam project at ``dest`` (see :func:`build_trained`), copied from a template built once
    per session for these arguments. A ``prepare`` hook is part of the template's identity through
    ``variant``: give each different hook its own name."""
    key = (rows, seed, versions, production, feature_service, materialize, variant)
    if prepare is not None and not variant:
        raise ValueError("name the prepare hook's variant, so templates with different hooks stay apart")
    if key not in _TEMPLATES:
        template = _cache_dir() / f"t{len(_TEMPLATES)}" / "spam"
        build_trained(
            template,
            rows=rows,
            seed=seed,
            versions=versions,
            production=production,
            feature_service=feature_service,
            materialize=materialize,
            prepare=prepare,
        )
        _TEMPLATES[key] = template
    shutil.copytree(_TEMPLATES[key], dest)
    return dest


def set_model(root: Path, **settings: Any) -> None:
    """Change the spam model's settings in the project file at ``root`` (e.g. ``policy=...``)."""
    path = root / "mlfactory.yaml"
    config = yaml.safe_load(path.read_text())
    config["models"]["spam"].update(settings)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def managed_project(root: Path, *, policy: dict[str, Any], gate_min: float = 0.9, **model: Any) -> Project:
    """A trained, promoted spam project whose model has the given controller policy (and other model
    settings), opened. ``gate_min`` is the first gate's minimum from now on (version 1 passed 0.9)."""
    trained_project(root)
    set_model(root, policy=policy, **model)
    if gate_min != 0.9:
        config = yaml.safe_load((root / "mlfactory.yaml").read_text())
        gates = config["models"]["spam"]["gates"]
        gates[0]["min"] = gate_min
        set_model(root, gates=gates)
    return open_project(root, env={}, actor="test")


def cli_command(root: Path, *args: str) -> list[str]:
    """The `mlfactory` command line for a project, run by this interpreter (for subprocess tests)."""
    return [sys.executable, "-m", "mlfactory.cli.main", "--project", str(root), *args]
