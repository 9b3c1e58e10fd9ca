"""The model page reads a page of versions, a page of the timeline and at most one more version record,
however long the model's history; the version it shows in full and the timeline's pages."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mlfactory.entities import PRODUCTION, VersionStatus
from mlfactory.project import Project

READS = (
    "model_versions_page",
    "model_timeline",
    "get_model_version",
    "latest_model_version",
    "list_model_versions",
    "list_events",
)


def _register(project: Project, name: str, n: int) -> None:
    """``n`` more ready versions of ``name``."""
    for _ in range(n):
        project.metadata.create_model_version(
            name,
            status=VersionStatus.READY,
            run_id=None,
            artifact="0" * 64,
            flavor="skops",
            signature={"inputs": [{"name": "subject", "type": "text"}], "task": "classification"},
            metrics={"f1": 0.9},
            gates=[],
            profile={},
            lineage={},
            card="# v{version}",
        )


@pytest.fixture
def reads(project: Project, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How often each registry and event read of the project's store is called."""
    calls: Counter[str] = Counter()
    for name in READS:
        original = getattr(project.metadata, name)

        def counted(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
            calls[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(project.metadata, name, counted)
    return calls


def test_a_long_history_costs_one_page_of_each_read(
    client: TestClient, project: Project, reads: Counter[str]
) -> None:
    _register(project, "spam", 60)
    html = client.get("/models/spam").text
    assert html.count('<th scope="row"><a href="?version=') == 25
    assert "v63</a>" in html and "v39</a>" in html and "v38</a>" not in html
    assert "Version 1</h2>" in html  # production, off the page: its record read once
    assert reads == {"model_versions_page": 1, "model_timeline": 1, "get_model_version": 1}


def test_the_shown_version_on_the_page_is_not_read_again(client: TestClient, reads: Counter[str]) -> None:
    html = client.get("/models/spam?version=2").text
    assert "Version 2</h2>" in html and 'class="selected"' in html
    assert reads == {"model_versions_page": 1, "model_timeline": 1}


def test_without_production_the_newest_version_is_shown_even_past_the_last_page(
    client: TestClient, project: Project
) -> None:
    _register(project, "bare", 2)
    assert "Version 2</h2>" in client.get("/models/bare").text
    past = client.get("/models/bare?offset=10").text
    assert "Version 2</h2>" in past and "?version=" not in past.split("Version 2</h2>")[0].split("<tbody>")[1]


def test_the_timeline_pages_newest_first(client: TestClient, project: Project) -> None:
    meta = project.metadata
    for i in range(25):
        meta.move_alias("spam", "staging", 1 + i % 3, kind="alias.set", actor="test", reason=f"m{i}")
        meta.add_event("test.noise", actor="test", model="spam", reason=f"noise {i}")
    first = client.get("/models/spam").text
    assert "m24" in first and "m5" in first and "m4<" not in first and "noise" not in first
    assert 'history_offset=20">Older' in first
    second = client.get("/models/spam?history_offset=20").text
    assert "m4" in second and "m24" not in second and "<code>model.registered</code>" in second
    assert 'history_offset=0">← Newer' in second


def test_production_is_shown_when_it_is_on_the_page(client: TestClient, project: Project) -> None:
    project.metadata.move_alias("spam", PRODUCTION, 3, kind="alias.set", actor="test", reason="third")
    html = client.get("/models/spam").text
    assert "Version 3</h2>" in html and "<strong>production</strong>" in html
