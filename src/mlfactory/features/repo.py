"""Loading the project's feature definitions (the ``features.module`` file) and checking them together."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from mlfactory.config import LoadedConfig
from mlfactory.errors import ConfigError, NotFoundError
from mlfactory.features.definitions import Entity, FeatureService, FeatureView


@dataclass(frozen=True)
class FeatureRepo:
    """Every entity, view and service a project declares, by name."""

    entities: dict[str, Entity]
    views: dict[str, FeatureView]
    services: dict[str, FeatureService]

    def view(self, name: str) -> FeatureView:
        if name not in self.views:
            raise NotFoundError(
                f"no feature view '{name}' (views: {', '.join(sorted(self.views)) or 'none'})"
            )
        return self.views[name]

    def service(self, name: str) -> FeatureService:
        if name not in self.services:
            raise NotFoundError(
                f"no feature service '{name}' (services: {', '.join(sorted(self.services)) or 'none'})"
            )
        return self.services[name]


def _exec_module(path: Path) -> ModuleType:
    name = f"mlfactory_project_features_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot load feature definitions from {path}; it must be a .py file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and inspect.getsource look the module up by name
    try:
        spec.loader.exec_module(module)
    except ConfigError as exc:
        sys.modules.pop(name, None)
        raise ConfigError(f"{path}: {exc}") from None
    except Exception as exc:
        sys.modules.pop(name, None)
        raise ConfigError(f"{path} failed to import: {type(exc).__name__}: {exc}; fix the file") from exc
    return module


def import_definitions(path: Path) -> FeatureRepo:
    """The definitions of a feature module file, imported (not checked against a project file)."""
    return collect(list(vars(_exec_module(path)).values()))


def collect(objects: list[object]) -> FeatureRepo:
    """Index definitions by name, refusing two different objects under one name."""
    entities: dict[str, Entity] = {}
    views: dict[str, FeatureView] = {}
    services: dict[str, FeatureService] = {}
    for obj in objects:
        for kind, cls, into in (
            ("entity", Entity, entities),
            ("feature view", FeatureView, views),
            ("feature service", FeatureService, services),
        ):
            if isinstance(obj, cls):
                other = into.get(obj.name)
                if other is not None and other is not obj:
                    raise ConfigError(f"two {kind}s are named '{obj.name}'; give each a unique name")
                into[obj.name] = obj  # type: ignore[assignment]
    for service in services.values():
        for sel in service.selections():
            views.setdefault(sel.view.name, sel.view)
            if views[sel.view.name] is not sel.view:
                raise ConfigError(f"two feature views are named '{sel.view.name}'; give each a unique name")
    for view in views.values():
        entities.setdefault(view.entity.name, view.entity)
    return FeatureRepo(entities, views, services)


def check_against_project(repo: FeatureRepo, loaded: LoadedConfig) -> None:
    """Sources exist and carry the timestamp column; models name known services; no name is used twice."""
    cfg = loaded.config
    for view in repo.views.values():
        if view.source not in cfg.sources:
            known = ", ".join(sorted(cfg.sources)) or "none declared"
            raise ConfigError(
                f"feature view '{view.name}' reads unknown source '{view.source}' (sources: {known}); "
                "declare the source under 'sources:' or fix the name"
            )
        columns = cfg.sources[view.source].columns
        if columns is not None:
            needed = (
                [*view.join_keys, view.timestamp]
                if view.function
                else [*view.join_keys, view.timestamp, *view.features]
            )
            missing = [c for c in needed if c not in columns]
            if missing:
                raise ConfigError(
                    f"feature view '{view.name}': source '{view.source}' has no column(s) {missing} "
                    f"(it declares {', '.join(columns)}); fix the view's timestamp / join keys or the source"
                )
    for model_name, model in cfg.models.items():
        name = getattr(model, "feature_service", None)
        if name is None:
            continue
        service = repo.service(name) if name in repo.services else None
        if service is None:
            raise ConfigError(
                f"model '{model_name}' uses unknown feature service '{name}' (services: "
                f"{', '.join(sorted(repo.services)) or 'none'}); declare it in {cfg.features.module}"
            )
        clash = sorted(set(service.feature_names) & set(model.features.all()))
        if clash:
            raise ConfigError(
                f"model '{model_name}' lists {clash} under features and also gets them from feature service "
                f"'{name}'; remove them from the model's features (the service provides them)"
            )


def load_feature_repo(loaded: LoadedConfig) -> FeatureRepo:
    """Import the project's feature module and check its definitions against the project file.

    Returns an empty repo when the project declares no feature module.
    """
    module_path = loaded.config.features.module
    if module_path is None:
        if any(getattr(m, "feature_service", None) for m in loaded.config.models.values()):
            raise ConfigError(
                "a model names a feature_service, but 'features.module' is not set; point it at "
                "the .py file that defines the service"
            )
        return FeatureRepo({}, {}, {})
    path = loaded.path(module_path)
    if not path.is_file():
        raise ConfigError(
            f"features.module points at {path}, which does not exist; create it or fix the path"
        )
    repo = import_definitions(path)
    check_against_project(repo, loaded)
    return repo
