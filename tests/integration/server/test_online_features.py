"""Serving a model that declares a feature service: requests carry only entity keys and request-time values,
the server looks the rest up online, answers each row's status, logs the exact vector, and the skew check on
that traffic finds what differs."""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from mlfactory.config import ServerConfig
from mlfactory.features import open_online_store
from mlfactory.project import open_project
from mlfactory.server import ServerSettings, create_app
from project_helpers import trained_project

VIEW = "domain_activity"
FEATURES = ["domain_emails_7d", "domain_links_mean_7d", "domain_attachment_rate_7d"]
REQUEST = ["n_links", "n_attachments", "hour_sent", "sender_domain", "language", "subject", "body"]
FRESH = {"domain_emails_7d": 42, "domain_links_mean_7d": 1.5, "domain_attachment_rate_7d": 0.25}


def _build(root: Path, ttl: str) -> Path:
    """The quickstart project (feature service on), trained, materialized and promoted; the view's ``ttl``."""

    def set_ttl(at: Path) -> None:
        features = at / "features.py"
        features.write_text(features.read_text().replace("ttl=None", f"ttl={ttl}"))

    quickstart = ttl == "None"  # the quickstart's own setting: the same template as the other tests'
    return trained_project(
        root,
        feature_service=True,
        materialize=True,
        prepare=None if quickstart else set_ttl,
        variant="" if quickstart else f"ttl={ttl}",
    )


@pytest.fixture(scope="session")
def fresh_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Values never expire (the quickstart's setting)."""
    return _build(tmp_path_factory.mktemp("features") / "fresh", "None")


@pytest.fixture(scope="session")
def ttl_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Values older than 30 days are stale: every materialized value (the emails are from early 2026)."""
    return _build(tmp_path_factory.mktemp("features") / "ttl", '"30d"')


def _copy(template: Path, dest: Path, policy: str | None = None) -> Path:
    shutil.copytree(template, dest)
    if policy is not None:
        y = dest / "mlfactory.yaml"
        y.write_text(y.read_text().replace("on_missing_features: defaults", f"on_missing_features: {policy}"))
    return dest


def _client(root: Path, env: dict[str, str] | None = None) -> TestClient:
    cfg = ServerConfig(reload_interval=0.2)
    return TestClient(create_app(ServerSettings(project=root, env=env or {}, server=cfg, routing_seed=1)))


def _records(root: Path, domains: list[str]) -> list[dict[str, Any]]:
    frame = pd.read_csv(root / "data" / "emails.csv").head(len(domains))
    rows = frame[REQUEST].to_dict(orient="records")
    for row, domain in zip(rows, domains, strict=True):
        row["sender_domain"] = domain
    return rows


def _known(root: Path, n: int) -> list[str]:
    return pd.read_csv(root / "data" / "emails.csv")["sender_domain"].drop_duplicates().head(n).tolist()


def _write_fresh(root: Path, domain: str, values: dict[str, Any], *, force: bool = False) -> None:
    """Put ``values`` for ``domain`` into the project's online store as of now."""
    now_us = int(time.time() * 1_000_000)
    with open_project(root, env={}) as project:
        project.features.online.write(VIEW, [(domain, now_us, now_us, orjson.dumps(values))], force=force)


def _logged(client: TestClient, request_ids: list[str]) -> pd.DataFrame:
    log = client.app.state.prediction_log  # type: ignore[attr-defined]
    log.flush()
    rows = log.query(model="spam", request_ids=request_ids)
    return rows.set_index("request_id").loc[request_ids]


@pytest.fixture
def ttl_project(ttl_template: Path, tmp_path: Path) -> Iterator[Path]:
    root = _copy(ttl_template, tmp_path / "p")
    yield root


# -- statuses and policies ---------------------------------------------------------------------------------


def test_defaults_policy_answers_each_rows_status_and_logs_the_vector_it_used(ttl_project: Path) -> None:
    present, stale = _known(ttl_project, 2)
    _write_fresh(ttl_project, present, FRESH)
    records = _records(ttl_project, [present, stale, "nobody.example"])
    keys_only = [{k: r[k] for k in REQUEST} for r in records]  # no feature values in the request
    with _client(ttl_project) as client:
        r = client.post("/v1/models/spam/predict", json={"records": keys_only})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["feature_status"] == ["present", "stale", "not_found"]
        logged = _logged(client, body["request_ids"])
    assert logged.loc[:, [f"input.{f}" for f in FEATURES]].iloc[0].tolist() == [42.0, 1.5, 0.25]
    for i in (1, 2):  # declared default for the count, null (imputed by the model) for the others
        row = logged.iloc[i]
        assert row["input.domain_emails_7d"] == 0.0
        assert pd.isna(row["input.domain_links_mean_7d"]) and pd.isna(row["input.domain_attachment_rate_7d"])
    assert logged["input.sender_domain"].tolist() == [present, stale, "nobody.example"]
    assert logged["input.subject"].tolist() == [r["subject"] for r in records]
    assert logged["prediction"].tolist() == body["predictions"]


def test_columns_payload_and_a_request_value_that_pins_a_feature(ttl_project: Path) -> None:
    present = _known(ttl_project, 1)[0]
    _write_fresh(ttl_project, present, FRESH)
    recs = _records(ttl_project, [present, present])
    cols = {k: [r[k] for r in recs] for k in REQUEST}
    cols["domain_links_mean_7d"] = [None, 7.0]  # a caller may pin a value: the request wins
    with _client(ttl_project) as client:
        body = client.post("/v1/models/spam/predict", json={"columns": cols}).json()
        assert body["feature_status"] == ["present", "present"]
        logged = _logged(client, body["request_ids"])
    assert logged["input.domain_emails_7d"].tolist() == [42.0, 42.0]
    assert pd.isna(logged["input.domain_links_mean_7d"].iloc[0])
    assert logged["input.domain_links_mean_7d"].iloc[1] == 7.0


def test_reject_policy_names_rows_keys_and_the_fix(ttl_template: Path, tmp_path: Path) -> None:
    root = _copy(ttl_template, tmp_path / "p", policy="reject")
    present, stale = _known(root, 2)
    _write_fresh(root, present, FRESH)
    with _client(root) as client:
        ok = client.post("/v1/models/spam/predict", json={"records": _records(root, [present])})
        assert ok.status_code == 200 and ok.json()["feature_status"] == ["present"]
        r = client.post(
            "/v1/models/spam/predict", json={"records": _records(root, [present, stale, "nobody.example"])}
        )
        assert r.status_code == 422
        body = r.json()
        message = body["error"]
        assert "2 row(s)" in message and "row 1" in message and "row 2" in message and "row 0" not in message
        assert f"sender_domain={stale!r} is stale" in message
        assert "sender_domain='nobody.example' is not found" in message
        assert "mlfactory features materialize" in message and "on_missing_features: defaults" in message
        assert body["reasons"] == [f"row 1: {VIEW} stale", f"row 2: {VIEW} not found"]
        log = client.app.state.prediction_log  # type: ignore[attr-defined]
        log.flush()
        assert len(log.query(model="spam")) == 1  # the refused request left nothing behind


def test_a_request_without_the_entity_key_is_refused(ttl_project: Path) -> None:
    rec = _records(ttl_project, ["x.example"])[0]
    del rec["sender_domain"]
    with _client(ttl_project) as client:
        r = client.post("/v1/models/spam/predict", json={"records": [rec]})
    assert r.status_code == 422 and "entity key 'sender_domain'" in r.json()["error"]


# -- an unreachable store ----------------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nothing listens there


def test_unreachable_redis_turns_readiness_false_and_answers_503(
    fresh_template: Path, tmp_path: Path
) -> None:
    root = _copy(fresh_template, tmp_path / "p")
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    with _client(root, env={"MLFACTORY_STORES__ONLINE": url}) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        online = ready.json()["online_store"]
        assert online["ok"] is False and url in online["error"]
        assert client.get("/healthz").status_code == 200
        r = client.post("/v1/models/spam/predict", json={"records": _records(root, _known(root, 2))})
        assert r.status_code == 503 and url in r.json()["error"]
        log = client.app.state.prediction_log  # type: ignore[attr-defined]
        log.flush()
        assert log.query(model="spam").empty  # nothing half-written


def test_redis_online_store_serves_the_same_answers(
    fresh_template: Path, tmp_path: Path, redis_url: str
) -> None:
    root = _copy(fresh_template, tmp_path / "p")
    url = f"{redis_url}?prefix=mlftest.{tmp_path.name}."
    env = {"MLFACTORY_STORES__ONLINE": url}
    domains = [*_known(root, 3), "nobody.example"]
    with open_project(root, env=env) as project:
        project.features.materialize()
    try:
        with _client(root) as client:
            local = client.post("/v1/models/spam/predict", json={"records": _records(root, domains)}).json()
        with _client(root, env=env) as client:
            assert client.get("/readyz").json()["online_store"]["ok"] is True
            remote = client.post("/v1/models/spam/predict", json={"records": _records(root, domains)}).json()
        assert remote["feature_status"] == local["feature_status"] == ["present"] * 3 + ["not_found"]
        assert remote["probabilities"] == local["probabilities"]
    finally:
        store = open_online_store(url)
        store.clear(VIEW)
        store.close()


# -- skew on served traffic ----------------------------------------------------------------------------------


def test_skew_on_served_traffic(fresh_template: Path, tmp_path: Path) -> None:
    root = _copy(fresh_template, tmp_path / "p")
    domains = _known(root, 6)
    with _client(root) as client:
        first = client.post("/v1/models/spam/predict", json={"records": _records(root, domains)}).json()
        assert first["feature_status"] == ["present"] * 6
        _logged(client, first["request_ids"])
    with open_project(root, env={}) as project:
        report = project.features.skew("spam")
        assert report["rows"] == 6 and report["max_mismatch_rate"] == 0.0
        changed = domains[2]
        record = project.features.get_online(VIEW, {"sender_domain": changed})
        assert record is not None
        values = {**record.values, "domain_links_mean_7d": record.values["domain_links_mean_7d"] + 3.0}
        project.features.online.write(
            VIEW, [(changed, record.event_us, record.created_us, orjson.dumps(values))], force=True
        )
    with _client(root) as client:
        second = client.post("/v1/models/spam/predict", json={"records": _records(root, domains)}).json()
        _logged(client, second["request_ids"])
    with open_project(root, env={}) as project:
        report = project.features.skew("spam")
    version = first["version"]
    per = report["features"][f"v{version}.domain_links_mean_7d"]
    assert report["rows"] == 12 and per["mismatches"] == 1
    assert per["examples"][0]["id"] == second["request_ids"][2]
    assert abs(per["max_abs_diff"] - 3.0) < 1e-9
    assert report["features"][f"v{version}.domain_emails_7d"]["mismatches"] == 0
