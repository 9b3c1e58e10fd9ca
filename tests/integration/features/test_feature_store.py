"""The feature store inside a real project: training through point-in-time retrieval, materialization on
SQLite and Redis, and the skew check over a prediction log."""

from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd
import pytest

from mlfactory.features import ServiceSpec, enrich_records
from mlfactory.project import Project
from project_helpers import make_project


def linked_project(root: Path, rows: int = 1500, env: dict[str, str] | None = None) -> Project:
    return make_project(root, rows=rows, feature_service=True, env=env)


def test_train_with_a_feature_service(tmp_path: Path) -> None:
    with linked_project(tmp_path / "p") as project:
        result = project.train("spam")
        assert result.passed, result.gates
        sig = result.version.signature
        sources = {c.name: c.source for c in sig.inputs}
        assert sources["domain_emails_7d"] == "store" and sources["subject"] == "request"
        spec = ServiceSpec.from_signature(sig)
        assert spec is not None and spec.join_keys == ["sender_domain"]
        view = project.features.repo.view("domain_activity")
        lineage = result.version.lineage.features
        assert lineage is not None and lineage.feature_views == {"domain_activity": view.code_version}
        ts = project.metadata.get_training_set(lineage.training_set)
        assert ts.n_rows == 1500
        assert project.metadata.get_run(result.run_id).artifacts["training_set"] == ts.digest
        assert [v.code_version for v in project.metadata.list_feature_views("domain_activity")] == [
            view.code_version
        ]
        # no leakage: every joined value became known at or before the email it is used for
        frame = pd.read_parquet(project.artifacts.local_path(ts.digest))
        table, _ = project.features.table(view)
        feats = pd.read_parquet(table.path)
        first_seen = feats.groupby("sender_domain")["_event_ts"].min()
        early = frame["sent_at"] < frame["sender_domain"].map(first_seen)
        assert early.any() and frame.loc[early, "domain_emails_7d"].isna().all()
        assert frame.loc[~early, "domain_emails_7d"].notna().all()


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_materialize_and_look_up(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> None:
    env = {}
    prefix = f"mlftest-{uuid.uuid4().hex[:8]}."
    if backend == "redis":
        url = request.getfixturevalue("redis_url")
        env["MLFACTORY_STORES__ONLINE"] = f"{url}?prefix={prefix}"
    with linked_project(tmp_path / "p", rows=600, env=env) as project:
        fs = project.features
        try:
            first = fs.materialize()
            assert first[0].entities_written > 5 and first[0].full
            assert fs.materialize()[0].rows_read == 0
            result = project.train("spam")
            spec = ServiceSpec.from_signature(result.version.signature)
            rows, statuses = enrich_records(
                [{"sender_domain": "mail.example.com"}, {"sender_domain": "unknown.example"}],
                spec,
                fs.online,
                on_missing="defaults",
            )
            assert statuses == ["present", "not_found"]
            assert rows[0]["domain_emails_7d"] > 0 and rows[1]["domain_emails_7d"] == 0
            events = project.metadata.list_events(kinds=["features.materialized"])
            assert len(events) == 2
        finally:
            if backend == "redis":
                fs.online.clear("domain_activity")


def test_skew_report_from_a_prediction_log(tmp_path: Path) -> None:
    with linked_project(tmp_path / "p", rows=600) as project:
        result = project.train("spam")
        emails = pd.read_csv(tmp_path / "p" / "data" / "emails.csv", parse_dates=["sent_at"]).tail(50)
        emails["time"] = pd.to_datetime(emails["sent_at"], utc=True)
        fs = project.features
        table, _ = fs.table(fs.repo.view("domain_activity"))
        spec = ServiceSpec.from_signature(result.version.signature)
        from mlfactory.features import point_in_time_join

        point_in_time_join(emails[["sender_domain", "time"]], "time", [table], tmp_path / "truth.parquet")
        truth = pd.read_parquet(tmp_path / "truth.parquet")
        log = pd.DataFrame(
            {
                "request_id": [f"r{i}" for i in range(len(truth))],
                "time": truth["time"],
                "model": "spam",
                "version": result.version.version,
                "input.sender_domain": truth["sender_domain"],
                **{f"input.{f}": truth[f] for f in spec.features},
            }
        )
        log.loc[3, "input.domain_links_mean_7d"] = 99.0  # one served value that differs
        folder = tmp_path / "p" / ".mlfactory" / "predictions" / "model=spam" / "date=2026-01-01"
        folder.mkdir(parents=True)
        log.to_parquet(folder / "part-1.parquet")
        report = fs.skew("spam")
        per = report["features"][f"v{result.version.version}.domain_links_mean_7d"]
        assert per["mismatches"] == 1 and per["examples"][0]["id"] == "r3"
        assert report["features"][f"v{result.version.version}.domain_emails_7d"]["mismatches"] == 0
        stored = project.metadata.list_skew_reports("spam")
        assert stored[0].id == report["id"] and project.metadata.list_events(kinds=["features.skew"])


def test_batch_scoring_joins_the_features_point_in_time(tmp_path: Path) -> None:
    with linked_project(tmp_path / "p", rows=600) as project:
        result = project.train("spam")
        ref = result.version.ref
        project.predict_file(ref, tmp_path / "p" / "data" / "emails.csv", tmp_path / "scored.parquet")
        scored = pd.read_parquet(tmp_path / "scored.parquet")
        features = result.version.lineage.features
        assert features is not None
        ts = project.metadata.get_training_set(features.training_set)
        joined = pd.read_parquet(project.artifacts.local_path(ts.digest))  # what training joined
        expected = project.registry.load(ref).predict_frame(joined)
        assert len(scored) == 600 and "domain_emails_7d" not in scored  # output: the input + predictions
        assert scored["prediction"].tolist() == expected["prediction"].tolist()


def test_training_fills_declared_defaults_exactly_as_serving_does(tmp_path: Path) -> None:
    with linked_project(tmp_path / "p", rows=800) as project:
        labels = pd.read_csv(tmp_path / "p" / "data" / "emails.csv", parse_dates=["sent_at"])
        strict = project.features.training_set(
            "sender_activity", labels, "sent_at", on_missing="reject"
        ).frame
        lenient = project.features.training_set(
            "sender_activity", labels, "sent_at", on_missing="defaults"
        ).frame
        unknown = strict["domain_emails_7d"].isna()
        assert unknown.any()  # emails sent before their domain's first full day is known
        assert (lenient.loc[unknown, "domain_emails_7d"] == 0).all()  # the declared default, as served
        assert lenient.loc[unknown, "domain_links_mean_7d"].isna().all()  # no default declared: left missing
        assert lenient.loc[~unknown, "domain_emails_7d"].equals(strict.loc[~unknown, "domain_emails_7d"])
