"""Dead experiments in a real trained project: found with their evidence, pruned exactly (never what a live
version's lineage needs), hidden from the listings, and restored."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from audit_helpers import age_project
from mlfactory.audit.dead import (
    STALE_VERSIONS,
    UNDECLARED_MODELS,
    UNREGISTERED_RUNS,
    UNSERVED_VERSIONS,
    UNUSED_VIEWS,
    find_dead,
    project_scope,
)
from mlfactory.audit.model import Scope
from mlfactory.audit.recorded import CHECK_TAG, MODEL_TAG
from mlfactory.entities import RunStatus
from mlfactory.errors import ConflictError
from mlfactory.project import Project, open_project
from project_helpers import cli_command, trained_project

AGE = timedelta(days=60)
ARCHIVE_KINDS = ("runs.archived", "model.archived")


def _ended_run(project: Project, name: str, **tags: str) -> str:
    run_id = project.metadata.create_run(name, params={"C": 0.5}, tags={"model": name, **tags})
    project.metadata.end_run(run_id, RunStatus.FINISHED)
    return run_id


@pytest.fixture(scope="module")
def dead_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """spam/1 was production until spam/3 took over; spam/2 was a canary for a while; spam/4 was never
    served; spam/5 is the newest. An experiment never registered, and an audit check, ran then too; all of
    it two months ago. A run that ended today has not registered yet either. Built once, copied per test."""
    root = trained_project(tmp_path_factory.mktemp("dead") / "spam")
    with open_project(root, env={}, actor="test") as project:
        runs = {"v2": project.train("spam").run_id, "v3": project.train("spam").run_id}
        project.promote("spam", 3, reason="better")
        project.promote("spam", 2, alias="canary", reason="try it")
        project.registry.remove_alias("spam", "canary", actor="test", reason="enough")
        runs |= {"v4": project.train("spam").run_id, "v5": project.train("spam").run_id}
        runs["experiment"] = _ended_run(project, "spam")
        runs["notebook"] = _ended_run(project, "notebook")
        check = {CHECK_TAG: "model.slices", MODEL_TAG: "spam"}
        runs["check"] = _ended_run(project, "audit.model.slices", **check)
        age_project(project, AGE)
        runs["today"] = _ended_run(project, "spam")
        runs["v1"] = project.metadata.get_model_version("spam", 1).run_id or ""
    return root, runs


@pytest.fixture
def dead_project(
    dead_template: tuple[Path, dict[str, str]], tmp_path: Path
) -> Iterator[tuple[Project, dict[str, str]]]:
    template, runs = dead_template
    root = shutil.copytree(template, tmp_path / "spam")
    with open_project(root, env={}, actor="test") as project:
        yield project, runs


def test_the_dead_experiments_are_found_with_their_evidence(
    dead_project: tuple[Project, dict[str, str]],
) -> None:
    project, runs = dead_project
    dead = find_dead(project, project_scope(project))
    assert {r.id for r in dead.runs} == {runs["experiment"], runs["notebook"]}
    assert {(v.ref, v.check) for v in dead.versions} == {
        ("spam/2", STALE_VERSIONS),
        ("spam/4", UNSERVED_VERSIONS),
    }
    # spam/1 has not been served for two months either, but spam/3 (production) was judged against it
    assert project.metadata.get_model_version("spam", 3).lineage.champion == "spam/1"
    findings = {(f.check, f.model): f for f in dead.findings()}
    unregistered = findings[(UNREGISTERED_RUNS, "spam")]
    assert unregistered.evidence["runs"] == 1 and unregistered.evidence["first_ids"] == [runs["experiment"]]
    assert findings[(UNREGISTERED_RUNS, "notebook")].evidence["runs"] == 1
    assert findings[(UNSERVED_VERSIONS, "spam")].evidence["first_refs"] == ["spam/4"]
    assert findings[(STALE_VERSIONS, "spam")].evidence["first_refs"] == ["spam/2"]
    assert "mlfactory prune" in unregistered.fix
    # the quickstart's views feed a feature service no model of this project uses any more
    views = {u.name for u in dead.unused if u.check == UNUSED_VIEWS}
    assert views and views <= set(project.features.repo.views)
    assert findings[(UNUSED_VIEWS, None)].evidence == {"feature_views": sorted(views)}


def test_nothing_is_dead_in_a_young_project(dead_project: tuple[Project, dict[str, str]]) -> None:
    project, _ = dead_project
    dead = find_dead(project, project_scope(project, datetime.now(UTC) - AGE + timedelta(days=1)))
    assert dead.runs == () and dead.versions == ()
    assert {f.check for f in dead.findings()} == {UNUSED_VIEWS}


def test_a_dry_run_changes_nothing(dead_project: tuple[Project, dict[str, str]]) -> None:
    project, runs = dead_project
    before = {r.id for r in project.metadata.list_runs()}
    result = project.prune(find_dead(project, project_scope(project)).plan(), dry_run=True)
    assert result.dry_run and result.events == ()
    assert {i.ref for i in result.items} == {
        "spam/2",
        "spam/4",
        runs["experiment"],
        runs["notebook"],
        runs["v2"],
        runs["v4"],
    }
    assert {r.id for r in project.metadata.list_runs()} == before
    assert [v.version for v in project.metadata.list_model_versions("spam")] == [1, 2, 3, 4, 5]
    assert project.metadata.list_events(kinds=ARCHIVE_KINDS) == []


def test_prune_archives_exactly_the_dead_and_restore_brings_them_back(
    dead_project: tuple[Project, dict[str, str]],
) -> None:
    project, runs = dead_project
    dataset = project.metadata.get_model_version("spam", 3).lineage.dataset
    result = project.prune(find_dead(project, project_scope(project)).plan())
    archived = {runs[k] for k in ("experiment", "notebook", "v2", "v4")}
    assert {i.ref for i in result.items if i.kind == "run"} == archived
    assert [v.version for v in project.metadata.list_model_versions("spam")] == [1, 3, 5]
    listed = {r.id for r in project.runs(limit=None)}
    assert listed.isdisjoint(archived)
    assert {runs[k] for k in ("v1", "v3", "v5", "check", "today")} <= listed  # lineage and evidence stay
    assert archived <= {r.id for r in project.runs(archived=True, limit=None)}
    assert project.metadata.get_dataset(dataset or "").id == dataset
    reason = project.metadata.get_run(runs["v2"]).archive_reason or ""
    assert reason.startswith("trained a version archived as dead.stale_versions: not served since before")
    with pytest.raises(ConflictError, match=r"spam/2 is archived .*prune --restore spam/2"):
        project.promote("spam", 2)
    assert find_dead(project, project_scope(project)).plan().items == ()  # nothing left to prune

    restored = project.restore(["spam/2", runs["experiment"][:12]])
    assert restored.versions == ("spam/2",) and set(restored.runs) == {runs["v2"], runs["experiment"]}
    assert [v.version for v in project.metadata.list_model_versions("spam")] == [1, 2, 3, 5]
    assert {runs["v2"], runs["experiment"]} <= {r.id for r in project.runs(limit=None)}
    project.promote("spam", 2, alias="canary")  # it may take traffic again


def _cli(root: Path, *args: str) -> str:
    done = subprocess.run(cli_command(root, *args), capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_prune_command_says_what_it_would_archive_then_archives_and_restores(
    dead_template: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    template, runs = dead_template
    root = shutil.copytree(template, tmp_path / "spam")
    planned = json.loads(_cli(root, "prune", "--dry-run", "--json"))
    assert planned["dry_run"] is True
    assert {i["ref"] for i in planned["items"] if i["kind"] == "version"} == {"spam/2", "spam/4"}
    shown = _cli(root, "prune", "--dry-run")
    assert "would archive" in shown and "dead.unserved_versions" in shown and "spam/4" in shown
    assert runs["v4"] in {r["id"] for r in json.loads(_cli(root, "runs", "list", "--json"))}

    done = _cli(root, "prune", "--older-than", "30d")
    assert "archived 2 versions and 4 runs" in done
    listed = {r["id"] for r in json.loads(_cli(root, "runs", "list", "--json"))}
    assert runs["v4"] not in listed and runs["v3"] in listed
    every = json.loads(_cli(root, "runs", "list", "--archived", "--json"))
    assert {r["id"]: r["archive_reason"] is not None for r in every}[runs["v4"]]
    assert [v["version"] for v in json.loads(_cli(root, "models", "show", "spam", "--json"))] == [1, 3, 5]
    shown = json.loads(_cli(root, "models", "show", "spam", "--archived", "--json"))
    assert [(v["version"], v["archived_at"] is not None) for v in shown][1:4] == [
        (2, True),
        (3, False),
        (4, True),
    ]
    assert json.loads(_cli(root, "models", "list", "--json"))[0]["latest"] == 5

    back = json.loads(_cli(root, "prune", "--restore", "spam/4", "--json"))
    assert back["versions"] == ["spam/4"] and back["runs"] == [runs["v4"]]
    assert runs["v4"] in {r["id"] for r in json.loads(_cli(root, "runs", "list", "--json"))}


def test_the_prune_command_refuses_a_duration_it_cannot_read(
    dead_template: tuple[Path, dict[str, str]],
) -> None:
    done = subprocess.run(
        cli_command(dead_template[0], "prune", "--older-than", "soon"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0 and "'soon' is not a duration" in done.stderr


def test_search_trials_go_with_their_search_run(dead_project: tuple[Project, dict[str, str]]) -> None:
    project, runs = dead_project
    search = _ended_run(project, "spam")  # a search whose winner was never registered
    lost = [_ended_run(project, "spam", parent_run=search) for _ in range(2)]
    evidence = [_ended_run(project, "spam", parent_run=runs["v3"]) for _ in range(2)]  # production's search
    with_v4 = _ended_run(project, "spam", parent_run=runs["v4"])
    age_project(project, AGE)
    dead = find_dead(project, project_scope(project))
    found = {r.id: r.parent for r in dead.runs}
    assert {i: found.get(i) for i in lost} == dict.fromkeys(lost, search) and search in found
    assert found.keys().isdisjoint(evidence)
    result = project.prune(dead.plan())
    archived = {i.ref for i in result.items}
    assert {with_v4, runs["v4"], search, *lost} <= archived and archived.isdisjoint(evidence)
    restored = project.restore(["spam/4"])
    assert set(restored.runs) == {runs["v4"], with_v4}


def test_a_stored_model_the_project_no_longer_declares_is_dead_unless_served(
    dead_project: tuple[Project, dict[str, str]],
) -> None:
    project, _ = dead_project
    spam1 = project.metadata.get_model_version("spam", 1)
    for _ in range(2):  # what a model renamed away from 'old_spam' left behind
        project.metadata.create_model_version(
            "old_spam",
            status=spam1.status,
            run_id=None,
            artifact=spam1.artifact,
            flavor=spam1.flavor,
            signature=spam1.signature.to_json(),
            metrics=spam1.metrics,
            gates=[],
            profile={},
            lineage={},
            card="",
        )
    dead = find_dead(project, project_scope(project))
    assert {v.ref for v in dead.versions if v.check == UNDECLARED_MODELS} == {"old_spam/1", "old_spam/2"}
    project.promote("old_spam", 2)
    dead = find_dead(project, project_scope(project))
    assert {v.ref for v in dead.versions if v.check == UNDECLARED_MODELS} == {"old_spam/1"}
    narrowed = find_dead(project, Scope(("spam",), datetime.now(UTC)))  # the whole project: spam is all
    assert "old_spam/1" in {v.ref for v in narrowed.versions}
