"""`mlfactory tokens`: a secret shown once, never stored or listed; bad roles and names refused."""

import json
import subprocess
import sys
from pathlib import Path

from mlfactory.entities import ApiToken
from mlfactory.project import open_project
from mlfactory.quickstart import init_project


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mlfactory.cli.main", "--project", str(root), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_create_list_revoke(tmp_path: Path) -> None:
    init_project(tmp_path / "p", rows=200)
    made = cli(tmp_path / "p", "tokens", "create", "ana", "--role", "operator")
    assert made.returncode == 0, made.stderr
    secret = next(w for w in made.stdout.split() if w.startswith("mlf_"))
    with open_project(tmp_path / "p", env={}) as project:
        assert ApiToken.digest(secret) in project.metadata.active_tokens()
    listed = cli(tmp_path / "p", "tokens", "list", "--json")
    assert json.loads(listed.stdout)[0]["role"] == "operator" and secret not in listed.stdout
    db = (tmp_path / "p" / ".mlfactory" / "mlfactory.db").read_bytes()
    assert secret.encode() not in db
    assert cli(tmp_path / "p", "tokens", "create", "bo", "--role", "boss").returncode == 2
    assert cli(tmp_path / "p", "tokens", "create", "a b").returncode == 2
    assert cli(tmp_path / "p", "tokens", "create", "ana").returncode == 5  # names are never reused
    assert cli(tmp_path / "p", "tokens", "revoke", "ana", "--reason", "rotated").returncode == 0
    assert cli(tmp_path / "p", "tokens", "revoke", "ana").returncode == 4
