from pathlib import Path

import pytest
import yaml

from mlfactory.config import FeatureSplitConfig, effective_settings, load_project_config
from mlfactory.errors import ConfigError

GOOD = """
name: demo
sources:
  s: {kind: csv, path: data.csv}
models:
  m:
    source: s
    label: y
    features: {numeric: [a, b]}
    gates: [{metric: accuracy, min: 0.8}]
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "mlfactory.yaml").write_text(text)
    return tmp_path


def test_valid_file_loads_with_defaults(tmp_path: Path) -> None:
    loaded = load_project_config(write(tmp_path, GOOD), env={})
    assert loaded.config.models["m"].estimator == "sklearn.linear_model.LogisticRegression"
    assert loaded.metadata_url() == f"sqlite:///{tmp_path.resolve() / '.mlfactory/mlfactory.db'}"
    assert loaded.origins["name"] == "file"
    assert loaded.origins["server.port"] == "default"


def test_typo_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"models\.m\.lable: unknown field"):
        load_project_config(write(tmp_path, GOOD.replace("label: y", "label: y\n    lable: z")), env={})


def test_bad_choice_names_value_and_allowed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_project_config(write(tmp_path, GOOD.replace("kind: csv", "kind: excel")), env={})
    assert (
        "sources.s.kind" in str(err.value) and "'excel'" in str(err.value) and "'parquet'" in str(err.value)
    )


def test_unknown_metric_lists_allowed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown classification metric 'acc'.*accuracy"):
        load_project_config(write(tmp_path, GOOD.replace("metric: accuracy", "metric: acc")), env={})


def test_model_with_unknown_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown source 'nope' \\(sources: s\\)"):
        load_project_config(write(tmp_path, GOOD.replace("source: s", "source: nope")), env={})


def test_time_split_needs_timestamp(tmp_path: Path) -> None:
    text = GOOD.replace("    gates:", "    split: {strategy: time}\n    gates:")
    with pytest.raises(ConfigError, match="needs the model's 'timestamp'"):
        load_project_config(write(tmp_path, text), env={})


def test_env_overrides_and_origin(tmp_path: Path) -> None:
    env = {
        "MLFACTORY_STORES__METADATA": "postgresql+psycopg://u@h/db",
        "MLFACTORY_SERVER__PORT": "9000",
        "OTHER": "x",
    }
    loaded = load_project_config(write(tmp_path, GOOD), env=env)
    assert loaded.config.stores.metadata == "postgresql+psycopg://u@h/db"
    assert loaded.config.server.port == 9000
    rows = {k: (v, o) for k, v, o in effective_settings(loaded)}
    assert rows["server.port"] == ("9000", "env")
    assert rows["stores.metadata"][1] == "env"
    assert rows["name"] == ('"demo"', "file")


def test_bad_env_value_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="server.port"):
        load_project_config(write(tmp_path, GOOD), env={"MLFACTORY_SERVER__PORT": "not-a-port"})


def test_memory_limit_must_be_a_size(tmp_path: Path) -> None:
    env = {"MLFACTORY_FEATURES__MEMORY_LIMIT": "plenty"}
    with pytest.raises(ConfigError, match="features.memory_limit.*'plenty' is not a size"):
        load_project_config(write(tmp_path, GOOD), env=env)
    loaded = load_project_config(write(tmp_path, GOOD), env={"MLFACTORY_FEATURES__MEMORY_LIMIT": "512MB"})
    assert loaded.config.features.memory_limit == "512MB"


def test_invalid_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_project_config(write(tmp_path, "name: [unclosed"), env={})
    with pytest.raises(ConfigError, match="no mlfactory.yaml"):
        load_project_config(tmp_path / "elsewhere", env={})


def test_a_yaml_error_reads_as_pyyaml_words_it_at_the_same_place(tmp_path: Path) -> None:
    # libyaml, which parses the file when PyYAML has it, words this "found character that cannot start
    # any token"; the message names the tab as PyYAML's own parser does
    with pytest.raises(ConfigError, match=r"at line 2, column 1: found character '\\t' that cannot start"):
        load_project_config(write(tmp_path, "name: demo\n\tdescription: x\n"), env={})


def test_a_valid_file_is_parsed_by_libyaml_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def pure_python(_text: str) -> None:
        raise AssertionError("the pure-Python parser ran on a valid file")

    monkeypatch.setattr(yaml, "safe_load", pure_python)
    assert load_project_config(write(tmp_path, GOOD), env={"MLFACTORY_NAME": "other"}).config.name == "other"


def test_paths_cannot_escape_the_project(tmp_path: Path) -> None:
    loaded = load_project_config(write(tmp_path, GOOD), env={})
    assert loaded.path("data.csv") == tmp_path.resolve() / "data.csv"
    with pytest.raises(ConfigError, match="escapes the project folder"):
        loaded.path("../../etc/passwd")
    assert loaded.path("/mnt/shared/predictions") == Path("/mnt/shared/predictions")  # explicit and absolute


def test_config_show_masks_the_token_and_url_passwords(tmp_path: Path) -> None:
    (tmp_path / "mlfactory.yaml").write_text(
        "name: t\nserver: {token: s3cr3t-t0ken}\n"
        "stores: {metadata: 'postgresql+psycopg://ml:hunter2@db:5432/ml'}\n"
    )
    shown = {k: v for k, v, _ in effective_settings(load_project_config(tmp_path, env={}))}
    assert shown["server.token"] == '"***"'
    assert shown["stores.metadata"] == '"postgresql+psycopg://ml:***@db:5432/ml"'
    assert "s3cr3t" not in str(shown) and "hunter2" not in str(shown)


def test_storage_options_carry_non_secret_settings(tmp_path: Path) -> None:
    text = GOOD + (
        "stores:\n  artifacts: s3://ml-bucket/mlfactory/artifacts\n"
        "  storage_options:\n"
        "    {endpoint_url: 'http://minio.internal:9000', region: eu-west-1, anonymous: false}\n"
    )
    stores = load_project_config(write(tmp_path, text), env={}).config.stores
    assert stores.artifacts == "s3://ml-bucket/mlfactory/artifacts"
    assert stores.storage_options == {
        "endpoint_url": "http://minio.internal:9000",
        "region": "eu-west-1",
        "anonymous": False,
    }
    assert load_project_config(write(tmp_path, GOOD), env={}).config.stores.storage_options == {}


@pytest.mark.parametrize(
    "key", ["key", "secret", "aws_secret_access_key", "token", "sas_token", "account_key", "password"]
)
def test_a_secret_in_storage_options_is_refused_by_name(tmp_path: Path, key: str) -> None:
    text = GOOD + f"stores:\n  storage_options: {{endpoint_url: 'http://x:9000', {key}: hunter2}}\n"
    with pytest.raises(ConfigError) as err:
        load_project_config(write(tmp_path, text), env={})
    message = str(err.value)
    assert f"storage_options.{key}" in message and "looks like a credential" in message
    assert "environment" in message and "instance role" in message
    assert "hunter2" not in message


def test_storage_options_values_are_plain(tmp_path: Path) -> None:
    text = GOOD + "stores:\n  storage_options: {client_kwargs: {region_name: x}}\n"
    with pytest.raises(ConfigError, match="storage_options"):
        load_project_config(write(tmp_path, text), env={})


def test_feature_split_thresholds_are_settings(tmp_path: Path) -> None:
    loaded = load_project_config(write(tmp_path, GOOD), env={})
    assert loaded.config.features.split == FeatureSplitConfig(min_rows=1_000_000, min_workers=4)
    split = "features:\n  split: {min_rows: 5000, min_workers: 2}\n"
    loaded = load_project_config(
        write(tmp_path, GOOD + split), env={"MLFACTORY_FEATURES__SPLIT__MIN_ROWS": "800"}
    )
    assert loaded.config.features.split == FeatureSplitConfig(min_rows=800, min_workers=2)
    assert loaded.origins["features.split.min_rows"] == "env"
    with pytest.raises(
        ConfigError, match=r"features\.split\.min_workers: a split needs 2 workers or more.*\(got 1\)"
    ):
        load_project_config(write(tmp_path, GOOD + split.replace("min_workers: 2", "min_workers: 1")), env={})
    with pytest.raises(
        ConfigError, match=r"features\.split\.min_rows: a split needs a source row count of 1"
    ):
        load_project_config(write(tmp_path, GOOD + split.replace("5000", "0")), env={})
    with pytest.raises(ConfigError, match=r"features\.split\.rows: unknown field"):
        load_project_config(write(tmp_path, GOOD + "features:\n  split: {rows: 5000}\n"), env={})


def test_settings_written_at_their_defaults_are_named_and_chosen_or_required_ones_are_not(
    tmp_path: Path,
) -> None:
    from mlfactory.config.loading import settings_at_default

    text = GOOD.replace("label: y", "label: y\n    seed: 42\n    task: classification\n    preprocess: false")
    loaded = load_project_config(write(tmp_path, text + "server:\n  port: 8000\n  host: 0.0.0.0\n"), env={})
    repeated = settings_at_default(loaded)
    assert "models.m.seed" in repeated and "models.m.task" in repeated and "server.port" in repeated
    assert "models.m.preprocess" not in repeated and "server.host" not in repeated  # chosen values
    assert "models.m.label" not in repeated and "models.m.source" not in repeated  # required
    env = {"MLFACTORY_SERVER__PORT": "9000"}  # the file's own repetition, whatever the environment says
    assert "server.port" in settings_at_default(load_project_config(tmp_path, env=env))
