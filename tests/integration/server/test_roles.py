"""Named tokens with roles: each endpoint asks for the least role that may use it, events name the caller,
and a revoked token stops working within the reload interval."""

from __future__ import annotations

import time
from pathlib import Path

from serving_helpers import make_client, open_copy, sample_records


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_each_role_may_do_its_part_and_no_more(spam_project: Path) -> None:
    with open_copy(spam_project, actor="admin") as project:
        viewer = project.create_token("dashboard", "viewer")
        predictor = project.create_token("scoring-service", "predictor")
        operator = project.create_token("ana", "operator")
    rows = {"records": sample_records(spam_project, 2)}
    canary = {"version": 2, "weight": 10, "reason": "try v2"}
    with make_client(spam_project) as client:
        assert client.get("/v1/models").status_code == 401  # tokens exist: listings need one
        assert client.get("/healthz").status_code == 200
        assert client.post("/v1/models/spam/predict", json=rows).status_code == 200  # open unless protected
        assert client.get("/v1/models", headers=bearer(viewer)).status_code == 200
        assert client.get("/v1/models", headers=bearer("mlf_made-up")).status_code == 401
        denied = client.put("/v1/admin/routing/spam/canary", json=canary, headers=bearer(viewer))
        assert denied.status_code == 403 and "'viewer'" in denied.json()["error"]
        ids = client.post("/v1/models/spam/predict", json=rows).json()["request_ids"]
        labels = {"labels": [{"request_id": ids[0], "label": 1}]}
        assert client.post("/v1/feedback", json=labels, headers=bearer(viewer)).status_code == 403
        assert client.post("/v1/feedback", json=labels, headers=bearer(predictor)).status_code in (200, 404)
        assert (
            client.put("/v1/admin/routing/spam/canary", json=canary, headers=bearer(predictor)).status_code
            == 403
        )
        moved = client.put("/v1/admin/routing/spam/canary", json=canary, headers=bearer(operator))
        assert moved.status_code == 200, moved.text
    with open_copy(spam_project) as project:
        event = project.metadata.list_events(kinds=["routing.set"])[-1]
        assert event.actor == "token:ana"  # from the token, not from anything the caller wrote


def test_a_revoked_token_stops_working_within_the_reload_interval(spam_project: Path) -> None:
    with open_copy(spam_project, actor="admin") as project:
        secret = project.create_token("old-service", "viewer")
    with make_client(spam_project) as client:
        assert client.get("/v1/models", headers=bearer(secret)).status_code == 200
        with open_copy(spam_project, actor="admin") as project:
            project.revoke_token("old-service", reason="rotated")
        time.sleep(0.5)  # make_client reloads every 0.2 s
        assert client.get("/v1/models", headers=bearer(secret)).status_code == 401
        assert client.get("/v1/models").status_code == 401  # revoking the last token does not open the server


def test_the_shared_server_token_still_acts_as_admin(spam_project: Path) -> None:
    canary = {"version": 2, "weight": 10}
    with make_client(spam_project, token="s3cret") as client:
        assert client.get("/v1/models").status_code == 401
        assert (
            client.put("/v1/admin/routing/spam/canary", json=canary, headers=bearer("s3cret")).status_code
            == 200
        )
