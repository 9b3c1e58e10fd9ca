"""Loading the project's feature module and checking it against the project file."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlfactory.config import load_project_config
from mlfactory.errors import ConfigError
from mlfactory.features import load_feature_repo
from mlfactory.quickstart import init_project


@pytest.fixture
def root(tmp_path: Path) -> Path:
    init_project(tmp_path / "p", rows=50)
    return tmp_path / "p"


def load(root: Path):  # type: ignore[no-untyped-def]
    return load_feature_repo(load_project_config(root, env={}))


def test_quickstart_definitions_load(root: Path) -> None:
    repo = load(root)
    assert set(repo.views) == {"domain_activity"} and set(repo.services) == {"sender_activity"}
    assert repo.entities["sender"].join_keys == ("sender_domain",)


def test_unknown_source(root: Path) -> None:
    f = root / "features.py"
    f.write_text(f.read_text().replace('source="emails"', 'source="mails"'))
    with pytest.raises(ConfigError, match="unknown source 'mails' \\(sources: emails\\)"):
        load(root)


def test_source_without_the_timestamp_column(root: Path) -> None:
    f = root / "features.py"
    f.write_text(f.read_text().replace('timestamp="sent_at"', 'timestamp="received_at"'))
    with pytest.raises(ConfigError, match=r"source 'emails' has no column\(s\) \['received_at'\]"):
        load(root)


def test_model_naming_an_unknown_service(root: Path) -> None:
    y = root / "mlfactory.yaml"
    y.write_text(y.read_text().replace("    feature_service: sender_activity", "    feature_service: nope"))
    with pytest.raises(ConfigError, match="unknown feature service 'nope' \\(services: sender_activity\\)"):
        load(root)


def test_module_that_fails_to_import(root: Path) -> None:
    (root / "features.py").write_text("import nonexistent_module_xyz\n")
    with pytest.raises(ConfigError, match="failed to import: ModuleNotFoundError"):
        load(root)


def test_two_views_with_one_name(root: Path) -> None:
    f = root / "features.py"
    f.write_text(
        f.read_text() + "\n\n@feature_view(entity=sender, source='emails', timestamp='sent_at', "
        "features={'x': 'number'}, name='domain_activity')\ndef other(df):\n    return df\n"
    )
    with pytest.raises(ConfigError, match="two feature views are named 'domain_activity'"):
        load(root)
