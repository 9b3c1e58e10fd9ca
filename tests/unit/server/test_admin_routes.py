"""`/v1/admin/routing/*`: each route calls one Project method, refreshes this replica, maps errors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mlfactory.entities import Event
from mlfactory.errors import ConflictError, NotFoundError

if TYPE_CHECKING:
    from conftest import Served  # this folder's conftest: the app over a fake Project


def event(kind: str = "routing.set", model: str = "spam") -> Event:
    return Event(
        id=41,
        time=datetime(2026, 1, 1, tzinfo=UTC),
        kind=kind,
        actor="server",
        model=model,
        payload={},
        reason="",
    )


def test_status_answers_the_projects_routing(served: Served) -> None:
    routing = {"model": "spam", "aliases": {"production": 1}, "policy": {}, "traffic_percent": {"v1": 100.0}}
    served.project.routing.return_value = routing
    r = served.client.get("/v1/admin/routing/spam")
    assert r.status_code == 200
    assert r.json() == routing
    served.project.routing.assert_called_once_with("spam")


def test_canary_deploys_through_the_project_and_refreshes(served: Served) -> None:
    served.project.deploy_canary.return_value = event()
    served.runtime.routes["spam"] = {"canary": 2}
    r = served.client.put(
        "/v1/admin/routing/spam/canary", json={"version": 2, "weight": 25, "key": "user", "reason": "try"}
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"event": 41, "kind": "routing.set", "routing": {"canary": 2}}
    served.project.deploy_canary.assert_called_once_with(
        "spam", 2, weight=25.0, key="user", reason="try", force=False, actor="server"
    )
    assert served.runtime.refreshes == 1


def test_ab_passes_the_variants_as_version_weight_pairs(served: Served) -> None:
    served.project.deploy_ab.return_value = event()
    r = served.client.put(
        "/v1/admin/routing/spam/ab", json={"variants": [[6, 50], [7, 50]], "key": "user_id", "force": True}
    )
    assert r.status_code == 200, r.text
    served.project.deploy_ab.assert_called_once_with(
        "spam", [(6, 50.0), (7, 50.0)], key="user_id", reason="", force=True, actor="server"
    )


def test_shadow_null_stops_it_and_clear_takes_the_reason_from_the_query(served: Served) -> None:
    served.project.deploy_shadow.return_value = event()
    served.project.deploy_clear.return_value = event("routing.cleared")
    assert served.client.put("/v1/admin/routing/spam/shadow", json={"version": None}).status_code == 200
    served.project.deploy_shadow.assert_called_once_with("spam", None, reason="", actor="server")
    r = served.client.delete("/v1/admin/routing/spam", params={"reason": "done"})
    assert r.status_code == 200
    assert r.json()["kind"] == "routing.cleared"
    served.project.deploy_clear.assert_called_once_with("spam", reason="done", actor="server")
    assert served.runtime.refreshes == 2


def test_domain_errors_map_to_their_status_and_message(served: Served) -> None:
    served.project.routing.side_effect = NotFoundError("no model 'nope'")
    r = served.client.get("/v1/admin/routing/nope")
    assert (r.status_code, r.json()) == (404, {"error": "no model 'nope'"})
    served.project.deploy_canary.side_effect = ConflictError("spam/2 was rejected by its gates")
    r = served.client.put("/v1/admin/routing/spam/canary", json={"version": 2, "weight": 10})
    assert (r.status_code, r.json()["error"]) == (409, "spam/2 was rejected by its gates")
    assert served.runtime.refreshes == 0  # nothing changed, nothing to pick up


def test_a_malformed_body_never_reaches_the_project(served: Served) -> None:
    for body in ({"version": 2, "weight": 0}, {"version": 2, "weight": 10, "colour": "red"}, {"weight": 10}):
        r = served.client.put("/v1/admin/routing/spam/canary", json=body)
        assert r.status_code == 422, body
        assert "error" in r.json()
    served.project.deploy_canary.assert_not_called()


def test_with_a_token_the_routes_refuse_anonymous_callers(served_with_token: Served) -> None:
    served = served_with_token
    assert served.client.get("/v1/admin/routing/spam").status_code == 401
    assert served.client.delete("/v1/admin/routing/spam").status_code == 401
    served.project.routing.assert_not_called()
    served.project.deploy_clear.assert_not_called()
    served.project.routing.return_value = {"model": "spam"}
    r = served.client.get("/v1/admin/routing/spam", headers={"Authorization": "Bearer s3cret-token"})
    assert (r.status_code, r.json()) == (200, {"model": "spam"})


def test_flush_writes_the_servers_queued_rows(served: Served, served_without_log: Served) -> None:
    assert served.client.post("/v1/admin/flush").json() == {"written_rows": 3}
    assert served.log is not None and served.log.flushed == 1
    assert served_without_log.client.post("/v1/admin/flush").json() == {"written_rows": 0}
