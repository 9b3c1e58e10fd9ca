"""`mlfactory monitor run|report|compare --html` write their page to a bucket as well as to a file: whole,
through the project's storage options, with the fs layer's errors for a missing bucket."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from mlfactory.cli.main import app
from mlfactory.errors import NotFoundError
from mlfactory.project import Project
from mlfactory.stores.fs import open_location


def test_html_pages_go_to_the_bucket(
    project: Project, send: Any, s3_bucket: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    send(300, drift=0.8)
    env = {"MLFACTORY_STORES__STORAGE_OPTIONS__ENDPOINT_URL": s3_bucket.storage_options["endpoint_url"]}
    runner = CliRunner()
    base = ["--project", str(project.root), "monitor"]
    run_url = f"{s3_bucket.url}/reports/run.html"
    out = runner.invoke(app, [*base, "run", "--last", "300", "--html", run_url], env=env)
    assert out.exit_code == 0, out.output
    assert f"report written to {run_url}" in out.output
    page_url = f"{s3_bucket.url}/reports/spam/latest.html"
    out = runner.invoke(app, [*base, "report", "spam", "--html", page_url], env=env)
    assert out.exit_code == 0, out.output
    frame = pd.read_csv(project.root / "data" / "emails.csv")
    frame.head(500).to_parquet(tmp_path / "ref.parquet")
    frame.tail(500).to_parquet(tmp_path / "cur.parquet")
    monkeypatch.chdir(project.root)  # compare takes the storage options of the project it runs in
    compare_url = f"{s3_bucket.url}/reports/compare.html"
    files = [str(tmp_path / "ref.parquet"), str(tmp_path / "cur.parquet")]
    out = runner.invoke(app, ["monitor", "compare", *files, "--html", compare_url], env=env)
    assert out.exit_code == 0, out.output
    location = open_location(s3_bucket.url, tmp_path, s3_bucket.storage_options)
    pages = {p.rsplit("/", 1)[-1]: location.fs.cat_file(p) for p in location.fs.find(location.root)}
    assert sorted(pages) == ["compare.html", "latest.html", "run.html"]  # and no temporary keys
    for page in pages.values():
        assert page.lstrip().lower().startswith(b"<!doctype html") and page.rstrip().endswith(b"</html>")
    assert b"n_links" in pages["compare.html"] and b"spam" in pages["latest.html"]

    missing = runner.invoke(app, [*base, "report", "spam", "--html", "s3://no-such-bucket/r.html"], env=env)
    assert isinstance(missing.exception, NotFoundError)
    assert "bucket 'no-such-bucket'" in str(missing.exception)
