"""Streaming batch scoring (`mlfactory predict` over files, folders and partitioned datasets): the same
predictions as scoring the whole frame at once, bad rows named by their place in the input, CSV, and
point-in-time features joined per batch."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from mlfactory.errors import ConflictError, NotFoundError, ValidationError
from mlfactory.project import Project, open_project
from mlfactory.project.batch import ScoreProgress
from project_helpers import trained_project

PARTS = 3
PER_PART = 100


@pytest.fixture
def spam(tmp_path: Path) -> Iterator[Project]:
    with open_project(trained_project(tmp_path / "p"), env={}, actor="test") as project:
        yield project


@pytest.fixture
def emails(spam: Project) -> pd.DataFrame:
    return pd.read_csv(spam.root / "data" / "emails.csv").head(PARTS * PER_PART)


def expected(project: Project, frame: pd.DataFrame) -> pd.DataFrame:
    """What scoring the whole frame in one go gives, by message id."""
    model = project.registry.load("spam@production")
    return pd.concat([frame, model.predict_frame(frame)], axis=1).set_index("message_id")


def same_predictions(scored: pd.DataFrame, whole: pd.DataFrame) -> None:
    scored = scored.set_index("message_id").loc[whole.index]
    assert scored["prediction"].tolist() == whole["prediction"].tolist()
    np.testing.assert_allclose(scored["proba_1"].to_numpy(), whole["proba_1"].to_numpy())
    assert set(scored["model_version"]) == {"spam/1"}


def write_parts(frame: pd.DataFrame, folder: Path, suffix: str = ".parquet") -> None:
    folder.mkdir(parents=True)
    for i in range(PARTS):
        part = frame.iloc[i * PER_PART : (i + 1) * PER_PART]
        path = folder / f"part-{i}{suffix}"
        if suffix == ".csv":
            part.to_csv(path, index=False)
        else:
            part.to_parquet(path, index=False)


def test_a_folder_of_parts_scores_like_the_whole_frame(
    spam: Project, emails: pd.DataFrame, tmp_path: Path
) -> None:
    write_parts(emails, tmp_path / "in")
    seen: list[ScoreProgress] = []
    summary = spam.predict_file(
        "spam", tmp_path / "in", tmp_path / "out", batch_rows=40, progress=seen.append
    )
    parts = sorted((tmp_path / "out").glob("part-*.parquet"))
    assert summary["rows"] == summary["rows_in"] == len(emails) and summary["bad_rows"] == 0
    assert len(parts) == len(summary["parts"]) > PARTS  # one part per scored batch, batches within a file
    assert not list((tmp_path / "out").glob(".tmp-*"))
    same_predictions(pd.read_parquet(tmp_path / "out"), expected(spam, emails))
    assert [p.rows_in for p in seen][-1] == len(emails) and seen[-1].total_rows == len(emails)
    assert all(a.rows_in < b.rows_in for a, b in itertools.pairwise(seen))
    with pytest.raises(ConflictError, match="already holds part files"):
        spam.predict_file("spam", tmp_path / "in", tmp_path / "out")


def test_a_hive_partitioned_folder_scores_like_the_whole_frame(
    spam: Project, emails: pd.DataFrame, tmp_path: Path
) -> None:
    emails.to_parquet(tmp_path / "in", partition_cols=["language"], index=False)
    assert (tmp_path / "in" / "language=en").is_dir()
    summary = spam.predict_file("spam", tmp_path / "in", tmp_path / "scored.parquet", batch_rows=64)
    scored = pd.read_parquet(tmp_path / "scored.parquet")
    assert summary["rows"] == len(scored) == len(emails) and summary["parts"] == [summary["output"]]
    by_id = scored.set_index("message_id")["language"].astype(str)  # the partition key is a column again
    assert by_id.loc[emails["message_id"]].tolist() == emails["language"].astype(str).tolist()
    same_predictions(scored, expected(spam, emails))


def test_each_batch_is_transformed_once_and_answered_as_the_pipeline_does(
    spam: Project, emails: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spam pipeline's preprocessing (TF-IDF, one-hot) runs once per batch, and the predictions and
    probabilities are exactly the pipeline's own ``predict`` and ``predict_proba``."""
    model = spam.registry.load("spam@production")
    preprocess = type(model.estimator.steps[0][1])
    original = preprocess.transform
    seen: list[int] = []

    def spy(self: Any, x: Any, **params: Any) -> Any:
        seen.append(len(x))
        return original(self, x, **params)

    emails.to_parquet(tmp_path / "in.parquet", index=False)
    monkeypatch.setattr(preprocess, "transform", spy)
    spam.predict_file("spam", tmp_path / "in.parquet", tmp_path / "out.parquet", batch_rows=PER_PART)
    monkeypatch.undo()
    assert seen == [PER_PART] * PARTS  # one transform per batch

    scored = pd.read_parquet(tmp_path / "out.parquet")
    x = model.rows(emails).frame()
    np.testing.assert_array_equal(scored["prediction"].to_numpy(), model.estimator.predict(x))
    np.testing.assert_array_equal(
        scored[[f"proba_{c}" for c in model.classes or []]].to_numpy(), model.estimator.predict_proba(x)
    )


def test_csv_in_and_out(spam: Project, emails: pd.DataFrame, tmp_path: Path) -> None:
    emails.to_csv(tmp_path / "in.csv", index=False)
    spam.predict_file("spam", tmp_path / "in.csv", tmp_path / "out.csv", batch_rows=70)
    scored = pd.read_csv(tmp_path / "out.csv")
    assert scored["n_links"].dtype == np.int64  # numbers read as text to check them come back as numbers
    same_predictions(scored, expected(spam, emails))


BAD = {10: ("n_links", "many"), 50: ("sender_domain", None), 70: ("n_links", "9999")}


def with_bad_rows(emails: pd.DataFrame) -> pd.DataFrame:
    """Three bad rows in the middle of the 2nd part: a wrong type, a missing value where the column is
    declared not nullable, a value over its declared maximum. Numbers held as text, as in CSV."""
    frame = emails.assign(n_links=emails["n_links"].astype(str)).astype({"sender_domain": object})
    for row, (column, value) in BAD.items():
        frame.loc[PER_PART + row, column] = value
    return frame


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
@pytest.mark.parametrize("mode", ["fail", "skip", "report"])
def test_bad_rows_are_named_by_their_place_in_the_input(
    spam: Project, emails: pd.DataFrame, tmp_path: Path, suffix: str, mode: str
) -> None:
    write_parts(with_bad_rows(emails), tmp_path / "in", suffix)
    out = tmp_path / "scored.parquet"
    rejected = tmp_path / "scored.rejected.parquet"
    if mode == "fail":
        with pytest.raises(ValidationError, match=rf"row 110 of the input \(.*part-1{suffix}, row 10\)"):
            spam.predict_file("spam", tmp_path / "in", out, on_bad_rows="fail", batch_rows=32)
        assert not out.exists() and not rejected.exists()
        assert not list(tmp_path.glob(".tmp-*"))
        return
    summary = spam.predict_file("spam", tmp_path / "in", out, on_bad_rows=mode, batch_rows=32)  # type: ignore[arg-type]
    good = emails.drop(index=[PER_PART + r for r in BAD])
    assert summary["rows_in"] == len(emails) and summary["bad_rows"] == len(BAD)
    assert summary["rows"] == len(good)
    same_predictions(pd.read_parquet(out), expected(spam, good))
    if mode == "skip":
        assert summary["rejected"] is None and not rejected.exists()
        return
    assert summary["rejected"] == str(rejected)
    report = pd.read_parquet(rejected)
    assert report["_row"].tolist() == [PER_PART + r for r in BAD]
    assert report["_row_in_file"].tolist() == list(BAD)
    assert all(f.endswith(f"part-1{suffix}") for f in report["_file"])
    assert report["message_id"].tolist() == emails["message_id"].iloc[[PER_PART + r for r in BAD]].tolist()
    reasons = report["_reason"].tolist()
    assert "column 'n_links' (integer): 'many' is not a number" in reasons[0]
    assert "sender_domain" in reasons[1] and "not nullable" in reasons[1]
    assert "above the declared maximum 500" in reasons[2]
    # a later clean run removes the stale report, so it cannot be taken for this run's
    write_parts(emails, tmp_path / "clean")
    assert spam.predict_file("spam", tmp_path / "clean", out)["rejected"] is None
    assert not rejected.exists()


def test_a_missing_column_or_no_rows_stops_every_mode(
    spam: Project, emails: pd.DataFrame, tmp_path: Path
) -> None:
    emails.drop(columns=["body"]).to_parquet(tmp_path / "in.parquet")
    with pytest.raises(ValidationError, match=r"missing input column\(s\) \['body'\]"):
        spam.predict_file("spam", tmp_path / "in.parquet", tmp_path / "out", on_bad_rows="skip")
    assert not (tmp_path / "out").exists()
    emails.head(0).to_parquet(tmp_path / "empty.parquet")
    with pytest.raises(ValidationError, match="holds no rows"):
        spam.predict_file("spam", tmp_path / "empty.parquet", tmp_path / "o.parquet")
    assert not (tmp_path / "o.parquet").exists()


def test_feature_service_rows_get_their_features_per_batch(tmp_path: Path) -> None:
    root = trained_project(tmp_path / "p", feature_service=True, materialize=True)
    with open_project(root, env={}, actor="test") as project:
        frame = pd.read_csv(root / "data" / "emails.csv").head(300)
        frame.to_parquet(tmp_path / "in.parquet", row_group_size=50)
        project.predict_file("spam", tmp_path / "in.parquet", tmp_path / "batched", batch_rows=50)
        model = project.registry.load("spam@production")
        whole = model.predict_frame(project._with_store_features(model.version, frame))
        scored = pd.read_parquet(tmp_path / "batched")
        assert len(list((tmp_path / "batched").glob("part-*"))) == 6
        assert "domain_emails_7d" not in scored  # the output is the input plus the predictions
        assert scored["prediction"].tolist() == whole["prediction"].tolist()
        np.testing.assert_allclose(scored["proba_1"].to_numpy(), whole["proba_1"].to_numpy())


def test_object_storage_in_and_out(tmp_path: Path, s3_bucket: Any) -> None:
    """A partitioned folder in a bucket scored into a folder of parts and a single file in the bucket, with
    the refused rows' report beside them; only the endpoint is in the project file."""
    import s3fs

    root = trained_project(tmp_path / "p")
    config = yaml.safe_load((root / "mlfactory.yaml").read_text())
    config.setdefault("stores", {})["storage_options"] = s3_bucket.storage_options
    (root / "mlfactory.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    bucket = s3fs.S3FileSystem(**s3_bucket.storage_options, use_listings_cache=False)
    with open_project(root, env={}, actor="test") as project:
        emails = pd.read_csv(root / "data" / "emails.csv").head(PARTS * PER_PART)
        write_parts(with_bad_rows(emails), tmp_path / "in")
        bucket.put(str(tmp_path / "in") + "/", f"{s3_bucket.name}/data/day=1/", recursive=True)
        summary = project.predict_file("spam", f"{s3_bucket.url}/data", f"{s3_bucket.url}/out", batch_rows=64)
        good = emails.drop(index=[PER_PART + r for r in BAD])
        assert summary["rows"] == len(good) and summary["bad_rows"] == len(BAD)
        assert all(p.startswith(f"{s3_bucket.url}/out/part-") for p in summary["parts"])
        with bucket.open(f"{s3_bucket.name}/out.rejected.parquet") as f:
            assert pd.read_parquet(f)["_row"].tolist() == [PER_PART + r for r in BAD]
        scored = pd.concat(
            pd.read_parquet(bucket.open(p)) for p in sorted(bucket.ls(f"{s3_bucket.name}/out"))
        )
        assert set(scored["day"].astype(str)) == {"1"}
        same_predictions(scored, expected(project, good))
        project.predict_file("spam", f"{s3_bucket.url}/data", f"{s3_bucket.url}/one.csv", on_bad_rows="skip")
        with bucket.open(f"{s3_bucket.name}/one.csv") as f:
            same_predictions(pd.read_csv(f), expected(project, good))
        assert not [k for k in bucket.find(s3_bucket.name) if ".tmp-" in k]
        with pytest.raises(NotFoundError, match="does not exist"):
            project.predict_file("spam", f"s3://no-such-{s3_bucket.name}/data", f"{s3_bucket.url}/x.parquet")


def test_the_command_reports_bad_rows_and_its_speed(
    spam: Project, emails: pd.DataFrame, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from mlfactory.cli.main import app

    write_parts(with_bad_rows(emails), tmp_path / "in", ".csv")
    args = ["--project", str(spam.root), "predict", "--model", "spam", "--input", str(tmp_path / "in")]
    done = CliRunner().invoke(app, [*args, "--output", str(tmp_path / "out"), "--batch-rows", "50"])
    assert done.exit_code == 0, done.output
    said = "".join(done.output.split())  # the console wraps long paths anywhere
    assert f"scored{len(emails) - len(BAD)}rowswithspam/1→{tmp_path / 'out'}" in said
    assert f"3badrow(s)notscored:reportedin{tmp_path / 'out.rejected.parquet'}" in said
    assert f"{len(emails)}rowsreadin" in said and "rows/s" in said
    assert len(list((tmp_path / "out").glob("part-*.parquet"))) == 6  # two 50-row batches per 100-row file
    skipped = CliRunner().invoke(app, [*args, "--output", str(tmp_path / "o.csv"), "--on-bad-rows", "skip"])
    assert "3badrow(s)notscored(skipped)" in "".join(skipped.output.split())
    failed = CliRunner().invoke(app, [*args, "--output", str(tmp_path / "f.csv"), "--on-bad-rows", "fail"])
    assert failed.exit_code != 0 and isinstance(failed.exception, ValidationError)
