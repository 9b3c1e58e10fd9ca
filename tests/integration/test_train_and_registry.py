"""The foundation loop through the SDK, on SQLite and PostgreSQL."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlfactory.entities import VersionStatus
from mlfactory.errors import ConflictError, IntegrityError, NotFoundError, ValidationError
from project_helpers import make_project


def test_train_gate_register_promote_rollback(tmp_path: Path, metadata_url: str) -> None:
    with make_project(tmp_path / "p", metadata_url=metadata_url) as project:
        first = project.train("spam")
        mv = first.version
        assert first.passed and mv.status == VersionStatus.READY
        assert first.metrics["accuracy"] > 0.9
        assert mv.lineage.dataset == project.datasets("emails")[-1].id
        assert mv.lineage.run == first.run_id
        assert set(mv.signature.input_names) == {
            "n_links",
            "n_attachments",
            "hour_sent",
            "sender_domain",
            "language",
            "subject",
            "body",
        }
        assert mv.profile["columns"]["n_links"]["count"] > 0  # the reference profile of the training data
        assert "prediction" in mv.profile["outputs"]["columns"]
        assert "# Model card: spam v1" in mv.card and "accuracy >= 0.9" in mv.card
        run = project.metadata.get_run(first.run_id)
        assert run.dataset_id == mv.lineage.dataset and run.artifacts["model"] == mv.artifact
        assert run.environment["project_file_sha256"] == project.loaded.file_hash
        assert "slice.language=en.accuracy" in run.metrics

        project.promote("spam", 1, reason="first")
        second = project.train("spam")
        assert second.champion is not None  # compared against production on the same holdout
        assert any("spam/1" in g.detail for g in second.gates)
        project.promote("spam", 2, reason="second")
        project.promote("spam", 1, alias="staging")
        assert project.registry.resolve("spam").version == 2
        project.rollback("spam", reason="bad canary")
        assert project.registry.resolve("spam@production").version == 1
        with pytest.raises(ConflictError, match="no earlier version"):
            project.rollback("spam")
        assert project.registry.resolve("spam@staging").version == 1  # other aliases untouched
        moves = [
            (e.kind, e.payload.get("from"), e.payload.get("to"))
            for e in project.registry.history("spam")
            if e.payload.get("alias") == "production"
        ]
        assert moves == [("alias.set", None, 1), ("alias.set", 1, 2), ("alias.rollback", 2, 1)]


def test_rejected_version_needs_force_for_production(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    text = (tmp_path / "p" / "mlfactory.yaml").read_text().replace("min: 0.90", "min: 0.999")
    (tmp_path / "p" / "mlfactory.yaml").write_text(text)
    project.close()
    from mlfactory.project import open_project

    with open_project(tmp_path / "p", env={}) as project:
        result = project.train("spam")
        assert not result.passed and result.version.status == VersionStatus.REJECTED
        with pytest.raises(ConflictError, match=r"rejected by its gates.*--force"):
            project.promote("spam", 1)
        assert project.metadata.get_aliases("spam") == {}
        project.promote("spam", 1, alias="staging")  # other aliases are fine
        event = project.promote("spam", 1, force=True, reason="hotfix")
        assert event.payload["forced"] is True and event.reason == "hotfix"


def test_invalid_data_blocks_training_unless_allowed(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    csv = tmp_path / "p" / "data" / "emails.csv"
    frame = pd.read_csv(csv)
    frame.loc[3, "n_links"] = -5
    frame.loc[4, "language"] = "xx"
    frame.to_csv(csv, index=False)
    bad = project.ingest("emails").dataset
    assert not bad.valid and len(bad.reasons) >= 2
    with pytest.raises(ValidationError) as err:
        project.train("spam")
    assert (
        "n_links" in str(err.value) and "language" in str(err.value) and "--allow-invalid" in str(err.value)
    )
    assert project.metadata.list_model_names() == []
    result = project.train("spam", allow_invalid=True)
    assert project.metadata.get_run(result.run_id).tags["allow_invalid"] == "true"
    assert result.version.lineage.allow_invalid is True
    older = project.train("spam", dataset="emails@1")
    assert older.version.lineage.dataset != bad.id
    project.close()


def test_batch_predict_and_tampered_model(tmp_path: Path) -> None:
    with make_project(tmp_path / "p") as project:
        mv = project.train("spam").version
        project.promote("spam", mv.version)
        out = tmp_path / "scored.parquet"
        summary = project.predict_file("spam@production", tmp_path / "p" / "data" / "emails.csv", out)
        scored = pd.read_parquet(out)
        assert summary["rows"] == len(scored) == 1500
        assert {"prediction", "proba_0", "proba_1", "model_version"} <= set(scored.columns)
        assert (scored["prediction"] == scored["is_spam"]).mean() > 0.9
        with pytest.raises(NotFoundError, match="no alias 'canary'"):
            project.predict_file("spam@canary", tmp_path / "p" / "data" / "emails.csv", out)
        path = project.artifacts.local_path(mv.artifact)
        path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
        with pytest.raises(IntegrityError, match=mv.artifact[:12]):
            project.registry.load("spam@production")


def test_missing_feature_column_in_batch_input(tmp_path: Path) -> None:
    with make_project(tmp_path / "p") as project:
        project.promote("spam", project.train("spam").version.version)
        src = tmp_path / "in.csv"
        pd.read_csv(tmp_path / "p" / "data" / "emails.csv").drop(columns=["body"]).head(5).to_csv(
            src, index=False
        )
        with pytest.raises(ValidationError, match=r"missing input column\(s\) \['body'\]"):
            project.predict_file("spam", src, tmp_path / "o.parquet")
        assert not (tmp_path / "o.parquet").exists()


def test_batch_input_is_checked_like_a_request(tmp_path: Path) -> None:
    """The SDK and batch scoring check rows with the server's checks: numbers held as text are read, bad
    values are named by column and row, nullable numbers count as missing, an empty frame says so."""
    with make_project(tmp_path / "p") as project:
        project.promote("spam", project.train("spam").version.version)
        model = project.registry.load("spam@production")
        frame = pd.read_csv(tmp_path / "p" / "data" / "emails.csv").head(4)
        expected = model.predict_frame(frame)
        as_text = frame.assign(n_links=frame["n_links"].astype(str))
        pd.testing.assert_frame_equal(model.predict_frame(as_text), expected)
        nullable = frame.assign(n_links=frame["n_links"].astype("Int64").mask(frame.index == 1))
        assert np.isnan(model.rows(nullable).columns["n_links"][1])
        with pytest.raises(ValidationError, match=r"column 'n_links' .* row 2: 'many' is not a number"):
            model.predict(as_text.assign(n_links=["1", "2", "many", "0"]))
        with pytest.raises(ValidationError, match="no rows to predict"):
            model.predict(frame.head(0))
