"""The debt found in a trained spam project's sources, settings and feature module: each kind of debt put in,
found with its evidence, and absent from the same project without it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from mlfactory.audit.debt import find_debt
from mlfactory.audit.model import Finding, Scope, Severity
from mlfactory.project import open_project
from project_helpers import trained_project


def _edit(root: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = root / "mlfactory.yaml"
    config = yaml.safe_load(path.read_text())
    change(config)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def _debt(root: Path, env: dict[str, str] | None = None) -> list[Finding]:
    with open_project(root, env=env or {}, actor="test") as project:
        return find_debt(project, Scope(("spam",), datetime.now(UTC)))


def _checks(findings: list[Finding], check: str) -> list[Finding]:
    return [f for f in findings if f.check == check]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return trained_project(tmp_path / "spam")


def test_the_trained_quickstart_project_has_no_source_config_or_model_debt(root: Path) -> None:
    found = _debt(root)
    checks = {f.check for f in found}
    assert not checks & {
        "data.owner_missing",
        "data.source_unreachable",
        "data.unused_source",
        "data.schema_changed",
        "data.undeclared_source",
        "config.env_override",
        "config.copied_param",
        "config.default_values",  # the file writes only what differs from the defaults
        "pipeline.repeated_feature_code",
        "model.undocumented",
        "model.stale",
    }, found
    # the quickstart's feature view does hold one tuning constant: its 7-day window
    (literal,) = _checks(found, "config.tuning_literal")
    assert literal.evidence["function"] == "domain_activity"
    assert [p.rsplit(": ", 1)[1] for p in literal.evidence["literals"]] == ["7"]


def test_a_setting_written_at_its_default_is_found(root: Path) -> None:
    def repeat(config: dict[str, Any]) -> None:
        config["models"]["spam"]["split"]["test_size"] = 0.2

    _edit(root, repeat)
    (defaults,) = _checks(_debt(root), "config.default_values")
    assert defaults.evidence == {"settings": ["models.spam.split.test_size"], "count": 1}


def test_an_ownerless_missing_unused_source_is_found_three_ways(root: Path) -> None:
    def add(config: dict[str, Any]) -> None:
        config["sources"]["clicks"] = {"kind": "csv", "path": "data/clicks.csv"}

    _edit(root, add)
    found = _debt(root)
    (owner,) = _checks(found, "data.owner_missing")
    assert owner.evidence == {"source": "clicks", "missing": ["owner", "description"], "owner": "unknown"}
    assert owner.severity is Severity.MEDIUM
    (gone,) = _checks(found, "data.source_unreachable")
    assert gone.evidence["missing_path"] == str(root.resolve() / "data" / "clicks.csv")
    assert gone.severity is Severity.HIGH
    (unused,) = _checks(found, "data.unused_source")
    assert unused.evidence["source"] == "clicks"
    assert "sources.clicks" in unused.fix


def test_a_source_whose_newest_snapshot_failed_validation_does_not_answer(root: Path) -> None:
    emails = pd.read_csv(root / "data" / "emails.csv")
    emails.loc[:40, "n_links"] = 9999  # above the declared maximum of 500
    emails.to_csv(root / "data" / "emails.csv", index=False)
    with open_project(root, env={}, actor="test") as project:
        bad = project.ingest("emails").dataset
        assert not bad.valid
    (finding,) = _checks(_debt(root), "data.source_unreachable")
    assert finding.evidence["dataset"] == bad.id
    assert finding.evidence["reasons"] and "missing_path" not in finding.evidence


def test_a_column_the_served_model_reads_dropped_from_its_source_is_a_schema_change(root: Path) -> None:
    emails = pd.read_csv(root / "data" / "emails.csv").drop(columns="hour_sent")
    emails.to_csv(root / "data" / "emails.csv", index=False)
    _edit(root, lambda c: c["sources"]["emails"]["columns"].pop("hour_sent"))
    with open_project(root, env={}, actor="test") as project:
        newest = project.ingest("emails").dataset
        trained_on = project.registry.resolve("spam@production").lineage.dataset
    (finding,) = _checks(_debt(root), "data.schema_changed")
    assert finding.model == "spam" and finding.severity is Severity.HIGH
    assert finding.evidence["trained_on"] == trained_on and finding.evidence["newest"] == newest.id
    assert finding.evidence["removed"] == ["hour_sent"]
    assert finding.evidence["used_columns_changed"] == ["hour_sent"]


def test_a_served_version_trained_on_a_source_the_file_no_longer_declares(root: Path) -> None:
    def rename(config: dict[str, Any]) -> None:
        config["sources"]["mail"] = config["sources"].pop("emails")
        config["models"]["spam"]["source"] = "mail"
        config.pop("features")  # its view reads 'emails', now undeclared: not loadable

    _edit(root, rename)
    (finding,) = _checks(_debt(root), "data.undeclared_source")
    assert finding.evidence["source"] == "emails" and finding.evidence["version"] == "spam/1"
    assert finding.evidence["declared"] == ["mail"]
    assert finding.severity is Severity.HIGH


def test_settings_from_the_environment_are_named_with_their_variables_but_secrets_are_not(root: Path) -> None:
    env = {"MLFACTORY_CONTROLLER__INTERVAL": "30", "MLFACTORY_SERVER__TOKEN": "s3cret"}
    (finding,) = _checks(_debt(root, env), "config.env_override")
    assert finding.evidence["settings"] == {
        "controller.interval": {"variable": "MLFACTORY_CONTROLLER__INTERVAL", "value": "30.0"}
    }
    assert "MLFACTORY_CONTROLLER__INTERVAL" in finding.fix
    assert not _checks(_debt(root, {"MLFACTORY_SERVER__TOKEN": "s3cret"}), "config.env_override")


def test_a_parameter_copied_into_a_second_model_is_found(root: Path) -> None:
    def copy(config: dict[str, Any]) -> None:
        spam = config["models"]["spam"]
        config["models"]["spam_strict"] = {**spam, "params": {"C": 4.0, "max_iter": 500}}

    _edit(root, copy)
    (finding,) = _checks(_debt(root), "config.copied_param")
    assert finding.evidence == {"param": "C", "value": 4.0, "models": ["spam", "spam_strict"]}
    _edit(root, lambda c: c["models"]["spam_strict"].update(params={"C": 1.0, "max_iter": 500}))
    assert not _checks(_debt(root), "config.copied_param")


COPIED_VIEWS = '''\
import pandas as pd

from mlfactory.features import Entity, feature_view

sender = Entity(name="sender", join_keys=["sender_domain"])
LINK_CAP = 40


@feature_view(entity=sender, source="emails", timestamp="sent_at", features={"links_capped": "number"})
def capped_links(emails: pd.DataFrame) -> pd.DataFrame:
    """Links per email, capped."""
    out = emails[["sender_domain", "sent_at"]].copy()
    out["links_capped"] = emails["n_links"].clip(upper=LINK_CAP).rolling(3, min_periods=1).mean()
    return out


@feature_view(entity=sender, source="emails", timestamp="sent_at", features={"links_capped2": "number"})
def capped_links_again(emails: pd.DataFrame) -> pd.DataFrame:
    out = emails[["sender_domain", "sent_at"]].copy()
    out["links_capped2"] = emails["n_links"].clip(upper=LINK_CAP).rolling(3, min_periods=1).mean()
    return out
'''


def test_feature_code_copied_between_views_and_its_literals_are_named_by_line(root: Path) -> None:
    (root / "features.py").write_text(COPIED_VIEWS)
    found = _debt(root)
    (repeated,) = _checks(found, "pipeline.repeated_feature_code")
    assert repeated.evidence["functions"] == {
        "capped_links": "features.py:10",
        "capped_links_again": "features.py:18",
    }
    literals = {
        f.evidence["function"]: f.evidence["literals"] for f in _checks(found, "config.tuning_literal")
    }
    # the module-level LINK_CAP is named, so only the rolling window's 3 is a literal in each function
    assert literals == {"capped_links": ["features.py:13: 3"], "capped_links_again": ["features.py:20: 3"]}


@pytest.fixture
def served_with_features(tmp_path: Path) -> Path:
    return trained_project(tmp_path / "spam", feature_service=True)


def test_a_schema_change_under_a_feature_view_is_found_for_the_view_too(served_with_features: Path) -> None:
    root = served_with_features
    emails = pd.read_csv(root / "data" / "emails.csv").drop(columns="hour_sent")
    emails.to_csv(root / "data" / "emails.csv", index=False)
    _edit(root, lambda c: c["sources"]["emails"]["columns"].pop("hour_sent"))
    with open_project(root, env={}, actor="test") as project:
        project.ingest("emails")
        lineage = project.registry.resolve("spam@production").lineage
    assert lineage.features is not None
    by_title = {f.title.split(" was trained")[0]: f for f in _checks(_debt(root), "data.schema_changed")}
    assert set(by_title) == {"spam/1", "feature view 'domain_activity' of spam/1"}
    view = by_title["feature view 'domain_activity' of spam/1"]
    assert view.evidence["trained_on"] == lineage.features.feature_datasets["domain_activity"]
    assert view.severity is Severity.MEDIUM  # which columns the view's code reads is not known
    assert by_title["spam/1"].severity is Severity.HIGH


def test_features_served_from_a_source_the_file_no_longer_declares(served_with_features: Path) -> None:
    def rename(config: dict[str, Any]) -> None:
        config["sources"]["mail"] = config["sources"].pop("emails")
        config["models"]["spam"]["source"] = "mail"

    _edit(served_with_features, rename)
    found = _checks(_debt(served_with_features), "data.undeclared_source")
    assert sorted(f.evidence["via"] for f in found) == ["feature view 'domain_activity'", "training data"]
    assert {f.evidence["source"] for f in found} == {"emails"}
    # the feature module reads 'emails' too, so it no longer loads: unused sources are not decided
    assert not _checks(_debt(served_with_features), "data.unused_source")


SHARED_EXPRESSION = """\
import pandas as pd

from mlfactory.features import Entity, FeatureView, feature_view

sender = Entity(name="sender", join_keys=["sender_domain"])


@feature_view(entity=sender, source="emails", timestamp="sent_at", features={"has_files": "number"})
def attachments(emails: pd.DataFrame) -> pd.DataFrame:
    out = emails[["sender_domain", "sent_at"]].copy()
    out["has_files"] = (emails["n_attachments"] > 0).astype(int).groupby(emails["sender_domain"]).cumsum()
    return out


def linked_files(emails: pd.DataFrame) -> pd.DataFrame:
    out = emails[["sender_domain", "sent_at", "n_links"]].copy()
    out["files"] = (emails["n_attachments"] > 0).astype(int).groupby(emails["sender_domain"]).cumsum()
    return out.rename(columns={"n_links": "links"})


linked = FeatureView(
    name="linked", entity=sender, source="emails", timestamp="sent_at",
    features={"files": "number", "links": "number"}, function=linked_files,
)
"""


def test_an_expression_repeated_in_two_view_functions_is_found(root: Path) -> None:
    (root / "features.py").write_text(SHARED_EXPRESSION)
    (repeated,) = _checks(_debt(root), "pipeline.repeated_feature_code")
    assert repeated.title.endswith("share an identical expression")
    assert repeated.evidence["functions"] == {
        "attachments": "features.py:9",
        "linked_files": "features.py:15",
    }
    assert not _checks(_debt(root), "config.tuning_literal")
