"""The Project's paged reads the dashboard uses: pages know whether more follow, and refuse what they
cannot answer with a message saying what would work."""

from __future__ import annotations

import pytest

from mlfactory.errors import ConfigError, NotFoundError
from mlfactory.project import Project
from mlfactory.project.views import Page


def test_a_page_knows_its_neighbours() -> None:
    first = Page([1, 2], 0, 2, True)
    assert first.previous_offset is None and first.next_offset == 2
    middle = Page([3, 4], 3, 2, False)
    assert middle.previous_offset == 1 and middle.next_offset is None


def test_runs_and_events_pages(project: Project) -> None:
    every = [r.id for r in project.runs()]
    page = project.runs_page(offset=30, limit=10)
    assert [r.id for r in page.items] == every[30:] and not page.has_more
    assert project.runs_page(limit=30).has_more
    events = project.events_page(model="spam", kinds=["test.tick"], actor="robot", limit=3)
    assert [e.reason for e in events.items] == ["tick 58", "tick 56", "tick 54"] and events.has_more


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"limit": 0}, "1 to 500 rows"),
        ({"limit": 501}, "1 to 500 rows"),
        ({"offset": -1}, "offset"),
        ({"sort": "params.C"}, "sort by one of started, name, status or metrics.KEY"),
        ({"status": "done"}, "status is one of running, finished, failed"),
    ],
)
def test_pages_refuse_what_they_cannot_answer(
    project: Project, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        project.runs_page(**kwargs)  # type: ignore[arg-type]


def test_tokens_are_identified_by_their_secret(project: Project) -> None:
    assert not project.tokens_configured(None) and project.tokens_configured("shared")
    secret = project.create_token("reader", "viewer")
    assert project.tokens_configured(None)
    found = project.identify_token(secret, None)
    assert found is not None and found.name == "reader" and found.role.value == "viewer"
    assert project.identify_token("mlf_unknown", None) is None
    shared = project.identify_token("shared", "shared")
    assert shared is not None and shared.name == "server-token" and shared.role.value == "admin"
    project.revoke_token("reader")
    assert project.identify_token(secret, None) is None


def test_the_route_table_splits_traffic_as_the_servers_do(project: Project) -> None:
    routing = project.routing("spam")
    table = project.route_table("spam")
    assert table.traffic_percent == routing["traffic_percent"] == {"v1": 80.0, "v2": 20.0}
    assert table.canary == 2 and table.aliases == routing["aliases"]
    project.deploy_clear("spam")
    project.deploy_ab("spam", "1:30,2:70", key="user")
    table = project.route_table("spam")
    assert table.traffic_percent == project.routing("spam")["traffic_percent"] == {"v1": 30.0, "v2": 70.0}
    assert table.ab == [(1, 30.0), (2, 70.0)] and table.key == "user" and table.canary is None


def test_versions_page_reads_newest_first(project: Project) -> None:
    first = project.versions_page("spam", limit=2)
    assert [v.version for v in first.items] == [3, 2] and first.has_more
    rest = project.versions_page("spam", offset=2, limit=2)
    assert [v.version for v in rest.items] == [1] and not rest.has_more
    assert "production" in rest.items[0].aliases
    with pytest.raises(NotFoundError, match="no model named 'nothing'"):
        project.versions_page("nothing")
