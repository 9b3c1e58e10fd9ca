"""What a server with ``server.token`` shows without it (issue 12): liveness, readiness without internals,
and predictions (unless ``protect_predictions``); model listings, monitoring, metrics and V2 metadata need
the token. V2 model metadata lists the inputs a request carries, not the ones the feature store serves."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from mlfactory.config import ServerConfig
from mlfactory.server import ServerSettings, create_app
from serving_helpers import make_client, sample_records

AUTH = {"Authorization": "Bearer s3cret"}
SERVED = ["domain_emails_7d", "domain_links_mean_7d", "domain_attachment_rate_7d"]
REQUEST = ["n_links", "n_attachments", "hour_sent", "sender_domain", "language", "subject", "body"]
CLOSED = [
    "/v1/models",
    "/v1/models/spam",
    "/v1/models/spam/monitoring",
    "/v1/models/spam/monitoring?window=1h",
    "/v1/models/spam/monitoring?last=10",
    "/v1/admin/routing/spam",
    "/metrics",
    "/v2",
    "/v2/models/spam",
    "/v2/models/spam/versions/1",
    "/v2/models/spam/ready",
    "/v2/models/spam/versions/1/ready",
]


def test_with_a_token_only_liveness_readiness_and_predictions_answer_without_it(spam_project: Path) -> None:
    recs = sample_records(spam_project, 1)
    with make_client(spam_project, token="s3cret") as c:
        for path in CLOSED:
            r = c.get(path)
            assert r.status_code == 401 and "Bearer" in r.json()["error"], path
            assert c.get(path, headers=AUTH).status_code == 200, path
        assert c.get("/healthz").status_code == 200
        assert c.get("/v2/health/live").json() == {"live": True}
        assert c.post("/v1/models/spam/predict", json={"records": recs}).status_code == 200
        # probes carry no token: ready or not, nothing else
        assert c.get("/readyz").json() == {"ready": True}
        assert c.get("/v2/health/ready").json() == {"ready": True}
        full = c.get("/readyz", headers=AUTH).json()
        assert full["ready"] is True and full["models"]["spam"]["production"] == 1
    with make_client(spam_project) as c:  # no token configured: everything is open, as before
        assert c.get("/readyz").json()["models"]["spam"]["production"] == 1
        assert c.get("/v1/models").status_code == 200 and c.get("/metrics").status_code == 200


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_v2_readiness_agrees_with_readyz_and_hides_the_store_without_the_token(
    features_template: Path, tmp_path: Path
) -> None:
    root = tmp_path / "p"
    shutil.copytree(features_template, root)
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    cfg = ServerConfig(reload_interval=0.2, token="s3cret")
    app = create_app(ServerSettings(project=root, env={"MLFACTORY_STORES__ONLINE": url}, server=cfg))
    with TestClient(app) as c:
        ready = c.get("/readyz")
        assert ready.status_code == 503
        assert ready.json() == {"ready": False, "reason": "the online feature store does not answer"}
        v2 = c.get("/v2/health/ready")
        assert v2.status_code == 503 and v2.json() == ready.json()
        full = c.get("/readyz", headers=AUTH).json()
        assert full["online_store"]["ok"] is False and url in full["online_store"]["error"]


def test_v2_metadata_lists_what_the_request_carries(features_template: Path, tmp_path: Path) -> None:
    root = tmp_path / "p"
    shutil.copytree(features_template, root)
    with make_client(root) as c:
        meta = c.get("/v2/models/spam").json()
        assert [i["name"] for i in meta["inputs"]] == REQUEST
        assert meta["parameters"]["served_by_feature_store"] == SERVED
        assert meta["parameters"]["entity_keys"] == ["sender_domain"]
        # a generic V2 client builds its request from the metadata: one 2-D BYTES input in that order
        frame = pd.read_csv(root / "data" / "emails.csv").head(3)
        rows = [[str(v) for v in row] for row in frame[REQUEST].itertuples(index=False)]
        two_d = {"name": "rows", "shape": [3, len(REQUEST)], "datatype": "BYTES", "data": rows}
        r = c.post("/v2/models/spam/infer", json={"inputs": [two_d]})
        assert r.status_code == 200, r.text
        native = c.post("/v1/models/spam/predict", json={"records": frame[REQUEST].to_dict("records")})
        outs = {o["name"]: o["data"] for o in r.json()["outputs"]}
        assert outs["predict"] == native.json()["predictions"]


@pytest.mark.parametrize("path", ["/v2/models/spam", "/v2/models/spam/versions/1"])
def test_v2_metadata_without_a_feature_service_lists_every_input(client: TestClient, path: str) -> None:
    meta = client.get(path).json()
    assert [i["name"] for i in meta["inputs"]] == REQUEST and "parameters" not in meta
