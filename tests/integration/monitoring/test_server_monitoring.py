"""The server answers GET /v1/models/{name}/monitoring and shows monitoring figures in /metrics."""

from __future__ import annotations

from mlfactory.monitoring import Window, run_monitor
from mlfactory.project import Project
from mlfactory.stores.predictions import PredictionLog
from serving_helpers import make_client, sample_records


def test_monitoring_endpoint_and_metrics(project: Project, plog: PredictionLog) -> None:
    with make_client(project.root) as client:
        empty = client.get("/v1/models/spam/monitoring").json()
        assert empty["reports"] == [] and "no stored monitoring report" in empty["message"]
        records = sample_records(project.root, 200)
        answer = client.post("/v1/models/spam/predict", json={"records": records})
        assert answer.status_code == 200, answer.text
        fresh = client.get("/v1/models/spam/monitoring", params={"last": 200}).json()
        assert fresh["source"] == "computed" and fresh["reports"][0]["rows"] == 200
        assert fresh["reports"][0]["drift"]["checked"] == 11 and fresh["history"] == []  # nothing stored
        bad = client.get("/v1/models/spam/monitoring", params={"window": "soon"})
        assert bad.status_code == 422 and "not a duration" in bad.json()["error"]
        (stored,) = run_monitor(
            project.metadata, plog, project.config.monitoring, model="spam", window=Window(last=200)
        )
        body = client.get("/v1/models/spam/monitoring").json()
        assert body["source"] == "stored" and body["reports"][0]["id"] == stored.id
        assert [h["id"] for h in body["history"]] == [stored.id]
        text = client.get("/metrics").text
        assert 'mlfactory_monitor_drift_share{model="spam",route="production",version="1"}' in text
        assert "mlfactory_monitor_report_age_seconds" in text
        assert client.get("/v1/models/nope/monitoring").status_code == 404
