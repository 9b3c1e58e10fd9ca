"""Canary, A/B and shadow through the admin API, answered and logged as the policy says."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient

from serving_helpers import open_copy, sample_records


def test_canary_then_clear(client: TestClient, spam_project: Path) -> None:
    r = client.put("/v1/admin/routing/spam/canary", json={"version": 2, "weight": 30, "reason": "try"})
    assert r.status_code == 200, r.text
    assert r.json()["routing"]["routes"] == [
        {"route": "canary", "version": 2, "percent": 30.0},
        {"route": "production", "version": 1, "percent": 70.0},
    ]
    recs = sample_records(spam_project, 1) * 400
    body = client.post("/v1/models/spam/predict", json={"records": recs}).json()
    share = body["versions"].count(2) / 400
    assert 0.2 < share < 0.4 and body["version"] is None
    assert {(v, r) for v, r in zip(body["versions"], body["routes"], strict=True)} == {
        (1, "production"),
        (2, "canary"),
    }
    assert client.get("/v1/admin/routing/spam").json()["traffic_percent"] == {"v1": 70.0, "v2": 30.0}
    assert client.delete("/v1/admin/routing/spam", params={"reason": "done"}).status_code == 200
    assert set(client.post("/v1/models/spam/predict", json={"records": recs}).json()["versions"]) == {1}
    bad = client.put("/v1/admin/routing/spam/canary", json={"version": 2, "weight": 300})
    assert bad.status_code == 422 and "weight" in bad.json()["error"]
    with open_copy(spam_project) as project:
        kinds = [
            e.kind
            for e in project.metadata.list_events(model="spam", kinds=["routing.set", "routing.cleared"])
        ]
    assert kinds == ["routing.set", "routing.cleared"]


def test_ab_is_sticky_by_request_field(client: TestClient, spam_project: Path) -> None:
    r = client.put("/v1/admin/routing/spam/ab", json={"variants": [[2, 50], [3, 50]], "key": "user_id"})
    assert r.status_code == 200, r.text
    base = sample_records(spam_project, 1)[0]
    users = [f"user-{i}" for i in range(60)]
    first = client.post("/v1/models/spam/predict", json={"records": [{**base, "user_id": u} for u in users]})
    again = client.post("/v1/models/spam/predict", json={"records": [{**base, "user_id": u} for u in users]})
    assert first.json()["versions"] == again.json()["versions"]
    assert set(first.json()["versions"]) == {2, 3}
    one = client.post("/v1/models/spam/predict", json={"records": [base], "key": users[5]}).json()
    assert one["versions"] == [first.json()["versions"][5]] and one["routes"][0].startswith("ab-v")


def test_shadow_is_logged_never_returned(client: TestClient, spam_project: Path) -> None:
    assert client.put("/v1/admin/routing/spam/shadow", json={"version": 3}).status_code == 200
    recs = sample_records(spam_project, 2)
    ids = []
    for _ in range(5):
        body = client.post("/v1/models/spam/predict", json={"records": recs}).json()
        assert body["versions"] == [1, 1]
        ids += body["request_ids"]
    log = client.app.state.prediction_log  # type: ignore[attr-defined]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        client.post("/v1/admin/flush")
        shadow = log.query(model="spam", route="shadow")
        if len(shadow) == len(ids):
            break
        time.sleep(0.05)
    assert sorted(shadow["request_id"]) == sorted(ids) and set(shadow["version"]) == {3}
    assert sorted(log.query(model="spam", route="production")["request_id"]) == sorted(ids)
