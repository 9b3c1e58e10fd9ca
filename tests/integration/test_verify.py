"""`mlfactory verify`: a tampered or missing artifact, dangling references and leftovers are all reported."""

import json
import subprocess
import sys
from pathlib import Path

from sqlalchemy import delete

from mlfactory.serving import deploy_canary
from mlfactory.stores.sql import schema as t
from project_helpers import make_project


def test_a_clean_project_verifies_and_every_kind_of_damage_is_found(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", rows=600)
    first = project.train("spam").version
    second = project.train("spam").version
    project.promote("spam", first.version)
    deploy_canary(project.metadata, "spam", second.version, weight=10, actor="t")
    clean = project.verify()
    assert clean.ok and clean.checked["artifacts"] >= 3 and clean.checked["aliases"] == 1

    model = project.artifacts.local_path(first.artifact)
    model.write_bytes(model.read_bytes() + b"tampered")
    data = project.metadata.list_datasets()[0].artifact
    (project.artifacts.root / data[:2] / data[2:]).unlink()
    (project.artifacts.root / ".tmp-abandoned").write_bytes(b"half")
    with project.metadata._tx() as c:  # a version removed behind the registry's back
        c.execute(delete(t.model_versions).where(t.model_versions.c.version == second.version))

    found = {(f.kind, f.subject) for f in project.verify().findings}
    assert ("artifact.modified", first.artifact) in found
    assert ("artifact.missing", data) in found
    assert ("routing.dangling", "spam") in found
    assert ("leftover", str(project.artifacts.root / ".tmp-abandoned")) in found
    project.close()


def test_the_verify_command_exits_7_naming_what_is_wrong(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", rows=400)
    project.close()
    command = [sys.executable, "-m", "mlfactory.cli.main", "--project", str(tmp_path / "p"), "verify"]
    clean = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert clean.returncode == 0 and "checked 1 artifacts" in clean.stdout, clean.stderr
    (tmp_path / "p" / ".mlfactory" / "artifacts" / ".tmp-left").write_bytes(b"x")
    broken = subprocess.run([*command, "--json"], capture_output=True, text=True, timeout=120)
    assert broken.returncode == 7 and "verify found 1 problem" in broken.stderr
    assert json.loads(broken.stdout)["findings"][0]["kind"] == "leftover"
