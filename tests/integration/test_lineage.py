"""`mlfactory lineage` over a real project: a version trained with store features and labelled traffic,
served as a canary, monitored; its lineage up (snapshot, views, training set, run, champion, gates,
feedback) and down (aliases, routes, reports, judged versions, logged rows), and single requests traced to
their inputs, looked-up features, version, route, routing change and label."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from mlfactory.cli.main import app
from mlfactory.config import ServerConfig
from mlfactory.control.feedback import feedback_training_rows
from mlfactory.errors import NotFoundError
from mlfactory.project import Project, open_project
from mlfactory.project.lineage import params_digest
from mlfactory.project.lineage_records import RouteShare
from mlfactory.server import ServerSettings, create_app
from project_helpers import cli_command, trained_project

VIEW = "domain_activity"
FEATURES = ["domain_emails_7d", "domain_links_mean_7d", "domain_attachment_rate_7d"]
REQUEST = ["n_links", "n_attachments", "hour_sent", "sender_domain", "language", "subject", "body"]


@dataclass(frozen=True)
class Served:
    """What the test sent: each request's answer (id -> version, route, prediction, probabilities, record)
    and the labels sent (id -> (label, source))."""

    answers: dict[str, dict[str, Any]]
    labels: dict[str, tuple[int, str]]


def _client(root: Path) -> TestClient:
    settings = ServerSettings(project=root, env={}, server=ServerConfig(reload_interval=0.2), routing_seed=1)
    return TestClient(create_app(settings))


def _serve(root: Path, records: list[dict[str, Any]], labels: dict[int, tuple[int, str]]) -> Served:
    """Send the records to the in-process server, then labels for some of them (by position)."""
    with _client(root) as client:
        r = client.post("/v1/models/spam/predict", json={"records": records})
        assert r.status_code == 200, r.text
        body = r.json()
        ids = body["request_ids"]
        sent = {ids[i]: label for i, label in labels.items()}
        for rid, (label, source) in sent.items():
            fb = client.post(
                "/v1/feedback", json={"labels": [{"request_id": rid, "label": label}], "source": source}
            )
            assert fb.status_code == 200 and fb.json()["accepted"] == 1, fb.text
        client.app.state.prediction_log.flush()  # type: ignore[attr-defined]
    answers = {
        rid: {
            "version": body["versions"][i],
            "route": body["routes"][i],
            "prediction": body["predictions"][i],
            "probabilities": body["probabilities"][i],
            "record": records[i],
        }
        for i, rid in enumerate(ids)
    }
    return Served(answers, sent)


def _records(root: Path, start: int, n: int) -> list[dict[str, Any]]:
    frame = pd.read_csv(root / "data" / "emails.csv").iloc[start : start + n]
    return [{k: (None if pd.isna(v) else v) for k, v in r.items()} for r in frame[REQUEST].to_dict("records")]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, Served, Served]]:
    """v1 in production answers 30 requests (10 labelled by a reviewer); v2 is trained on those labels,
    judged against v1 and sent 50% of traffic as a canary; 40 more requests (one labelled by QA); then
    the log is monitored."""
    root = trained_project(
        tmp_path_factory.mktemp("lineage") / "spam", feature_service=True, materialize=True
    )
    first = _serve(root, _records(root, 0, 30), {i: (i % 2, "reviewer") for i in range(10)})
    with open_project(root, env={}, actor="test") as project:
        name, model = project.model_config("spam")
        rows = feedback_training_rows(project.predictions, project.metadata, name, model)
        project.train("spam", feedback=rows)
        project.deploy_canary("spam", 2, weight=50.0, reason="try v2", force=True)
    second = _serve(root, _records(root, 30, 40), {})
    canary = next(rid for rid, a in second.answers.items() if a["route"] == "canary")
    labelled = _label(root, canary)
    second = Served(second.answers, {canary: labelled})
    with open_project(root, env={}, actor="test") as project:
        project.monitor("spam", seconds=3600)
        yield project, first, second


def _label(root: Path, request_id: str) -> tuple[int, str]:
    with _client(root) as client:
        fb = client.post(
            "/v1/feedback", json={"labels": [{"request_id": request_id, "label": 1}], "source": "qa"}
        )
        assert fb.json()["accepted"] == 1, fb.text
    return 1, "qa"


def test_upstream_names_data_features_training_set_run_champion_gates_and_feedback(world) -> None:
    project, first, _ = world
    v = project.version("spam/2")
    found = project.version_lineage("spam/2")
    assert found.version.ref == "spam/2" and found.version.status == v.status.value
    up = found.upstream
    dataset = project.dataset("emails")
    assert up.data.found and up.data.dataset == dataset.id == v.lineage.dataset
    assert (up.data.source, up.data.content_hash, up.data.rows) == (
        "emails",
        dataset.content_hash,
        dataset.n_rows,
    )
    assert up.data.ingested_at == dataset.created_at and up.data.valid is True
    service = v.signature.feature_service
    assert service is not None and [f.view for f in up.feature_views] == [VIEW]
    assert up.feature_views[0].code_version == service.views[0].code_version
    assert up.training_set is not None and up.training_set.feature_service == "sender_activity"
    assert up.training_set.rows == project.metadata.get_training_set(up.training_set.id).n_rows > 0
    run = project.run(v.run_id or "")
    assert up.run is not None and up.run.id == run.id and up.run.found
    assert up.run.params_digest == params_digest(run.params) and up.run.environment["python"]
    assert up.champion == "spam/1" and up.gates == list(v.gates) and up.gates
    assert up.feedback_rows == len(first.labels) == 10 and up.feedback_requests
    assert up.train_rows == v.lineage.train_rows and up.holdout_rows == v.lineage.holdout_rows


def test_downstream_names_aliases_routes_reports_judged_versions_and_traffic(world) -> None:
    project, first, second = world
    both = {**first.answers, **second.answers}
    v1 = project.version_lineage("spam/1").downstream
    assert v1.aliases == ["production"] and v1.routes == []
    (span,) = v1.alias_history
    assert (span.alias, span.until, span.actor) == ("production", None, "test") and span.since is not None
    assert [j.ref for j in v1.judged] == ["spam/2"]
    assert v1.traffic is not None
    assert v1.traffic.rows == {"production": sum(a["version"] == 1 for a in both.values())}
    v2 = project.version_lineage("spam/2").downstream
    assert v2.aliases == [] and v2.alias_history == [] and v2.judged == []
    assert v2.routes == [RouteShare("canary", 50.0)]
    assert v2.traffic is not None and v2.traffic.rows == {
        "canary": sum(a["route"] == "canary" for a in both.values())
    }
    stored = project.monitor_reports("spam", version=2)
    assert v2.reports.count == len(stored) >= 1 and not v2.reports.capped
    assert v2.reports.newest[0].id == stored[-1].id
    assert project.version_lineage("spam/2", traffic=None).downstream.traffic is None


def test_a_request_is_traced_to_inputs_features_version_route_routing_and_label(world) -> None:
    project, first, second = world
    (rid,) = second.labels
    sent = second.answers[rid]
    traced = project.request_lineage(rid)
    assert (traced.model, traced.version, traced.route) == ("spam", 2, "canary")
    assert traced.prediction == sent["prediction"] and traced.probabilities == pytest.approx(
        sent["probabilities"]
    )
    assert traced.classes == list(project.version("spam/2").signature.classes or [])
    assert traced.latency_ms > 0 and traced.shadow == []
    record = sent["record"]
    assert (
        traced.inputs["sender_domain"] == record["sender_domain"]
        and traced.inputs["subject"] == record["subject"]
    )
    assert [f.name for f in traced.features] == FEATURES and {f.view for f in traced.features} == {VIEW}
    assert [f.value for f in traced.features] == [traced.inputs[f] for f in FEATURES]
    assert all(f.event_time is None for f in traced.features)  # the log does not record it
    change = traced.routing_change
    assert change is not None and change.kind == "routing.set" and change.reason == "try v2"
    assert traced.label is not None and (traced.label.label, traced.label.actor) == (1, "qa")
    early = next(iter(first.labels))
    traced = project.request_lineage(early)
    assert (traced.version, traced.route) == (1, "production")
    assert traced.routing_change is not None and traced.routing_change.kind == "alias.set"
    assert traced.label is not None and (traced.label.label, traced.label.actor) == (
        first.labels[early][0],
        "reviewer",
    )
    unlabelled = next(r for r in first.answers if r not in first.labels)
    assert project.request_lineage(unlabelled).label is None


def test_unknown_versions_and_requests_are_named(world) -> None:
    project, _, _ = world
    with pytest.raises(NotFoundError, match="spam"):
        project.version_lineage("spam/9")
    with pytest.raises(NotFoundError, match="no request 'feedc0ffee'.*request_ids"):
        project.request_lineage("feedc0ffee")
    with pytest.raises(NotFoundError, match="order-17"):
        project.request_lineage("order-17")


def test_cli_prints_and_answers_json(world) -> None:
    project, _, second = world
    runner = CliRunner()
    base = ["--project", str(project.root), "lineage"]
    out = runner.invoke(app, [*base, "spam/2", "--json"])
    assert out.exit_code == 0, out.output
    body = json.loads(out.output)
    assert body["version"]["version"] == 2 and body["upstream"]["champion"] == "spam/1"
    assert body["downstream"]["routes"] == [{"kind": "canary", "weight": 50.0}]
    assert body["upstream"]["feedback_rows"] == 10
    out = runner.invoke(app, [*base, "spam/1"], env={"COLUMNS": "160"})
    assert out.exit_code == 0, out.output
    assert "upstream of spam/1" in out.output and "production" in out.output and "spam/2" in out.output
    (rid,) = second.labels
    out = runner.invoke(app, [*base, "--request", rid, "--json"])
    assert out.exit_code == 0, out.output
    traced = json.loads(out.output)
    assert traced["request_id"] == rid and traced["route"] == "canary" and traced["label"]["actor"] == "qa"
    out = runner.invoke(app, [*base, "--request", rid], env={"COLUMNS": "160"})
    assert out.exit_code == 0, out.output
    assert rid in out.output and "1 from qa" in out.output and f"store: {VIEW}" in out.output


def test_cli_errors_exit_with_their_codes(world) -> None:
    project, _, _ = world
    unknown = subprocess.run(
        cli_command(project.root, "lineage", "--request", "order-17"), capture_output=True, text=True
    )
    assert unknown.returncode == 4 and "no request 'order-17'" in unknown.stderr
    both = subprocess.run(
        cli_command(project.root, "lineage", "spam/1", "--request", "x"), capture_output=True, text=True
    )
    assert both.returncode == 2 and "not both" in both.stderr
