"""What a run ran on: Python, packages, platform, the project's git commit and project-file hash."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("mlfactory", "numpy", "pandas", "pyarrow", "scikit-learn", "scipy", "skops")


def _git_commit(root: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def capture_environment(root: Path, project_file_hash: str, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """Describe the environment a run executes in, for reproducing it later."""
    versions: dict[str, str | None] = {}
    for name in (*PACKAGES, *extra):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": versions,
        "git_commit": _git_commit(root),
        "project_file_sha256": project_file_hash,
    }
