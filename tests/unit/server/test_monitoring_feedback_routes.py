"""`GET /v1/models/{name}/monitoring` and `POST /v1/feedback` over a fake Project."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlfactory.entities import MonitorReportRecord
from mlfactory.errors import NotFoundError, ValidationError
from mlfactory.serving import FeedbackResult

if TYPE_CHECKING:
    from conftest import Served  # this folder's conftest: the app over a fake Project


def record(report_id: str, version: int, route: str = "production") -> MonitorReportRecord:
    return MonitorReportRecord(
        id=report_id,
        model="spam",
        version=version,
        route=route,
        created_at=datetime(2026, 1, 1, 12, tzinfo=UTC),
        window_start=None,
        window_end=None,
        rows=500,
        status="ok",
        metrics={"drift.share": 0.25},
    )


class Computed:
    """A report as the monitoring run returns it."""

    def __init__(self, version: int) -> None:
        self.version = version

    def to_dict(self) -> dict[str, Any]:
        return {"model": "spam", "version": self.version, "status": "ok"}


def test_stored_reports_and_their_history(served: Served) -> None:
    served.project.latest_monitor_reports.return_value = [{"id": "r2", "version": 1, "status": "ok"}]
    served.project.monitor_history.return_value = [record("r1", 1), record("r2", 1)]
    r = served.client.get("/v1/models/spam/monitoring", params={"history": 5, "route": "production"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["source"] == "stored"
    assert body["reports"] == [{"id": "r2", "version": 1, "status": "ok"}]
    assert [h["id"] for h in body["history"]] == ["r1", "r2"]
    assert set(body["history"][0]) == {"id", "created_at", "version", "route", "rows", "status", "metrics"}
    assert body["history"][0]["metrics"] == {"drift.share": 0.25}
    served.project.latest_monitor_reports.assert_called_once_with(
        "spam", version=None, route="production", scan=50
    )
    served.project.monitor_history.assert_called_once_with("spam", version=None, route="production", limit=5)
    served.project.monitor.assert_not_called()


def test_no_stored_report_says_how_to_get_one(served: Served) -> None:
    served.project.latest_monitor_reports.return_value = []
    served.project.monitor_history.return_value = []
    body = served.client.get("/v1/models/spam/monitoring", params={"history": 0}).json()
    assert body["reports"] == [] and body["history"] == []
    assert "mlfactory monitor run --model spam" in body["message"]


def test_a_window_is_checked_now_without_storing_or_alerting(served: Served) -> None:
    served.project.monitor.return_value = [Computed(1), Computed(2)]
    served.project.monitor_history.return_value = []
    r = served.client.get("/v1/models/spam/monitoring", params={"window": "1h", "version": 2})
    assert r.status_code == 200, r.text
    assert r.json()["source"] == "computed"
    assert [x["version"] for x in r.json()["reports"]] == [1, 2]
    served.project.monitor.assert_called_once_with(
        "spam", seconds=3600.0, last=None, version=2, route=None, store=False, alerts=False, log=served.log
    )
    assert served.log is not None and served.log.flushed == 1  # rows answered a moment ago count


def test_last_rows_are_checked_now(served: Served) -> None:
    served.project.monitor.return_value = []
    served.project.monitor_history.return_value = []
    assert served.client.get("/v1/models/spam/monitoring", params={"last": 200}).status_code == 200
    assert served.project.monitor.call_args.kwargs["last"] == 200
    assert served.project.monitor.call_args.kwargs["seconds"] is None


def test_bad_windows_are_refused_before_the_project_is_asked(served: Served) -> None:
    for params in ({"window": "1h", "last": 5}, {"window": "soon"}, {"window": "200000d"}, {"last": 0}):
        r = served.client.get("/v1/models/spam/monitoring", params=params)
        assert r.status_code == 422, params
    served.project.monitor.assert_not_called()


def test_unknown_model_and_missing_log(served: Served, served_without_log: Served) -> None:
    served.project.latest_monitor_reports.side_effect = NotFoundError("no model 'nope'")
    r = served.client.get("/v1/models/nope/monitoring")
    assert (r.status_code, r.json()) == (404, {"error": "no model 'nope'"})
    r = served_without_log.client.get("/v1/models/spam/monitoring", params={"window": "1h"})
    assert r.status_code == 422
    assert "does not write a prediction log" in r.json()["error"]


def test_feedback_goes_through_the_project_with_the_servers_log(served: Served) -> None:
    served.project.feedback.return_value = FeedbackResult(1, ["b"], [])
    body = {"labels": [{"request_id": "a", "label": 1}, {"request_id": "b", "label": "spam"}]}
    r = served.client.post("/v1/feedback", json=body)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "accepted": 1,
        "unknown": ["b"],
        "unknown_count": 1,
        "invalid": [],
        "invalid_count": 0,
    }
    served.project.feedback.assert_called_once_with([("a", 1), ("b", "spam")], actor="server", log=served.log)
    served.client.post("/v1/feedback", json={**body, "source": "reviewers"})
    assert served.project.feedback.call_args.kwargs["actor"] == "reviewers"


def test_feedback_errors(served: Served, served_without_log: Served) -> None:
    for bad in (b"{", b'{"labels": []}', b'{"labels": [{"request_id": "a"}]}', b'{"labels": [], "x": 1}'):
        r = served.client.post("/v1/feedback", content=bad, headers={"content-type": "application/json"})
        assert r.status_code == 422, bad
    served.project.feedback.assert_not_called()
    served.project.feedback.side_effect = ValidationError("2 label(s) do not fit", ["row 0", "row 1"])
    r = served.client.post("/v1/feedback", json={"labels": [{"request_id": "a", "label": 7}]})
    assert (r.status_code, r.json()) == (
        422,
        {"error": "2 label(s) do not fit", "reasons": ["row 0", "row 1"]},
    )
    r = served_without_log.client.post("/v1/feedback", json={"labels": [{"request_id": "a", "label": 1}]})
    assert r.status_code == 422 and "prediction log" in r.json()["error"]
