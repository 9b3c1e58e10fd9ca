"""Reading a project file: YAML, environment overrides, validation with readable errors, origins."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError as PydanticValidationError

from mlfactory.config.base import ENV_PREFIX, PROJECT_FILE
from mlfactory.config.project import LoadedConfig, ProjectConfig
from mlfactory.errors import ConfigError

# libyaml's parser when PyYAML was built with it: a tenth of the pure-Python one's time on a project file
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _parse_yaml(text: str) -> Any:
    """``yaml.safe_load`` of ``text``, through libyaml when it is there. A document libyaml rejects is parsed
    again by the pure-Python parser, so what it accepts and the errors it reports stay the same."""
    try:
        return yaml.load(text, Loader=_FAST_LOADER)
    except yaml.YAMLError:
        return yaml.safe_load(text)


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, Mapping):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: data}


# top-level settings that are one value, not a section: ``MLFACTORY_COMPUTE`` overrides ``compute``
_TOP_LEVEL_VALUES = frozenset(
    name for name, field in ProjectConfig.model_fields.items() if field.annotation is str
)


def _apply_env(raw: dict[str, Any], env: Mapping[str, str]) -> list[str]:
    """Apply ``MLFACTORY_<SECTION>__<KEY>`` (a section's setting) and ``MLFACTORY_<KEY>`` (a top-level
    value) to the file's settings; other ``MLFACTORY_*`` variables are not settings and are left alone."""
    applied = []
    for key, value in sorted(env.items()):
        if not key.startswith(ENV_PREFIX):
            continue
        parts = [p.lower() for p in key.removeprefix(ENV_PREFIX).split("__")]
        if len(parts) == 1 and parts[0] not in _TOP_LEVEL_VALUES:
            continue
        node = raw
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{key} overrides '{'.'.join(parts)}', but '{part}' is not a section")
        node[parts[-1]] = _parse_yaml(value) if value else value
        applied.append(".".join(parts))
    return applied


def _format_errors(exc: PydanticValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling)"
        elif err["type"] == "literal_error":
            msg = f"got {err.get('input')!r}; {msg.lower()}"
        elif "input" in err and not isinstance(err["input"], dict | list):
            msg = f"{msg} (got {err['input']!r})"
        lines.append(f"  {where}: {msg}")
    return f"{source} is not valid:\n" + "\n".join(lines)


def find_project_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` holding a project file."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / PROJECT_FILE).is_file():
            return folder
    raise ConfigError(
        f"no {PROJECT_FILE} in {here} or any folder above it; run `mlfactory init DIR` "
        "or `mlfactory quickstart` to create a project, or pass --project"
    )


def load_project_config(root: Path | str | None = None, env: Mapping[str, str] | None = None) -> LoadedConfig:
    """Read, override from the environment and validate a project's file.

    Args:
        root: the project folder (or its project file); searched upward from the working folder when None.
        env: environment to read ``MLFACTORY_*`` overrides from; the process environment when None.
    """
    if root is not None and Path(root).is_file():
        root = Path(root).parent
    if root is None:
        folder = find_project_root()
    else:
        folder = Path(root)
        if not (folder / PROJECT_FILE).is_file():
            raise ConfigError(
                f"no {PROJECT_FILE} in {folder}; run `mlfactory init {folder}` to create a project there"
            )
    file = folder / PROJECT_FILE
    text = file.read_text(encoding="utf-8")
    try:
        raw = _parse_yaml(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{file} is not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{file} must hold a mapping of settings, got {type(raw).__name__}")
    from_file = set(_flatten(raw))
    from_env = _apply_env(raw, os.environ if env is None else env)
    try:
        config = ProjectConfig.model_validate(raw, context={"root": folder.resolve()})
    except PydanticValidationError as exc:
        raise ConfigError(_format_errors(exc, str(file))) from None
    origins: dict[str, str] = {}
    for key in _flatten(config.model_dump(mode="json")):
        if key in from_env or any(key.startswith(e + ".") for e in from_env):
            origins[key] = "env"
        elif key in from_file or any(key.startswith(f + ".") for f in from_file):
            origins[key] = "file"
        else:
            origins[key] = "default"
    return LoadedConfig(
        config=config,
        root=folder.resolve(),
        file_hash=hashlib.sha256(text.encode()).hexdigest(),
        origins=origins,
    )


SECRET_KEYS = frozenset({"token", "password", "secret"})
_URL_PASSWORD = re.compile(r"(://[^/:@\s]+:)[^@/\s]+@")


def _shown(key: str, value: Any) -> str:
    """A setting as JSON for display: secrets (a token, a password in a URL) masked."""
    if value is not None and key.rsplit(".", 1)[-1] in SECRET_KEYS:
        return json.dumps("***")
    return _URL_PASSWORD.sub(r"\1***@", json.dumps(value))


def effective_settings(loaded: LoadedConfig) -> list[tuple[str, str, str]]:
    """Every setting as (dotted key, value as JSON, origin: file | env | default), secrets masked."""
    flat = _flatten(loaded.config.model_dump(mode="json"))
    return [(k, _shown(k, v), loaded.origins.get(k, "default")) for k, v in flat.items()]


def _without(raw: Mapping[str, Any], path: list[str]) -> dict[str, Any]:
    """A copy of the file's settings with the setting at ``path`` left out."""
    out = dict(raw)
    if len(path) == 1:
        out.pop(path[0], None)
    else:
        out[path[0]] = _without(raw[path[0]], path[1:])
    return out


def settings_at_default(loaded: LoadedConfig) -> list[str]:
    """The settings the project file writes out although they only repeat what mlfactory would use without
    them (each one left out in turn gives the same configuration): clutter that hides the settings chosen."""
    raw = _parse_yaml((loaded.root / PROJECT_FILE).read_text(encoding="utf-8")) or {}
    whole = _flatten(ProjectConfig.model_validate(raw).model_dump(mode="json"))
    repeated = []
    for key in _flatten(raw):
        try:
            alone = ProjectConfig.model_validate(_without(raw, key.split(".")))
        except PydanticValidationError:  # a required setting
            continue
        if _flatten(alone.model_dump(mode="json")) == whole:
            repeated.append(key)
    return repeated
