"""A feature view computed split by entity across the executor's workers gives what one process gives: the
quickstart project's ``domain_activity`` on a skewed source (a few heavy sender domains and a long tail of
rare ones), computed in one process, on the local process pool, on a ``ray start --head`` cluster reached by
``ray://`` and on a Ray started in this process, gives the same feature table (byte for byte), the same
materialized online values and the same point-in-time training set. The source is far smaller than the
default threshold, so the split ones lower it in their project file (``features.split``). A view that
declares ``per_entity=True`` but reads across entities (the shipped view takes its day range over the whole
source) is caught and computed in one process.

Each Ray starts once (conftest.py's module-scoped ``ray_executor``) and leaves no process behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlfactory.compute import Executor, LocalExecutor, RayExecutor
from mlfactory.config import FeatureSplitConfig
from mlfactory.features import FeatureStore, OnlineRecord, entity_key
from mlfactory.project import Project
from project_helpers import make_project

pytestmark = pytest.mark.slow

ROWS = 30_000
LOW = FeatureSplitConfig(min_rows=1_000, min_workers=2)  # far below ROWS, and this machine's CPUs: a split
NOW = datetime(2026, 6, 1, tzinfo=UTC)  # after every generated email
VIEW = "domain_activity"


def skewed(root: Path) -> None:
    """Half the emails keep the quickstart's few domains (heavy); the other half get a Zipf-distributed
    domain out of 5,000 (a few common, a long tail seen once or twice)."""
    csv = root / "data" / "emails.csv"
    emails = pd.read_csv(csv)
    rng = np.random.default_rng(11)
    tail = rng.random(len(emails)) < 0.5
    ranks = rng.zipf(1.3, size=len(emails)) % 5_000
    emails.loc[tail, "sender_domain"] = [f"d{r}.tail.example" for r in ranks[tail]]
    emails.to_csv(csv, index=False)


def per_entity(root: Path) -> None:
    """The skewed source, and the view declared per entity with each domain's trailing days its own (up to
    six days after the latest email, not up to the source's last day)."""
    skewed(root)
    declared(root)
    features = root / "features.py"
    text = features.read_text()
    span = "counts.index.max(), freq"
    assert span in text, "the quickstart view no longer takes its day range as this test expects"
    features.write_text(text.replace(span, "counts.index.max() + pd.Timedelta(days=6), freq"))


def declared(root: Path) -> None:
    """The quickstart view as shipped, declared per entity."""
    features = root / "features.py"
    text = features.read_text()
    assert "ttl=None," in text
    features.write_text(text.replace("ttl=None,", "ttl=None, per_entity=True,"))


def skewed_declared(root: Path) -> None:
    skewed(root)
    declared(root)
    low_threshold(root)


def low_threshold(root: Path) -> None:
    """The project file's ``features.split`` lowered to ``LOW``."""
    project_file = root / "mlfactory.yaml"
    text = project_file.read_text()
    module = "  module: features.py"
    assert module in text, "the quickstart project file no longer declares its feature module as expected"
    split = f"  split: {{min_rows: {LOW.min_rows}, min_workers: {LOW.min_workers}}}"
    project_file.write_text(text.replace(module, f"{split}\n{module}"))


def per_entity_split(root: Path) -> None:
    per_entity(root)
    low_threshold(root)


@dataclass(frozen=True)
class Outcome:
    """What one way of computing gave."""

    table: str  # the feature table's digest
    online: list[OnlineRecord | None]
    training: pd.DataFrame
    training_digest: str
    partitions: int
    note: str


def run(project: Project, compute: Executor | None) -> Outcome:
    """Materialize the view and build the service's training set with a store on ``compute`` (split from
    the project's ``features.split`` on)."""
    store = FeatureStore(project.loaded, project.metadata, project.artifacts, compute=compute)
    try:
        store.materialize([VIEW], now=NOW)
        table, ds = store.table(store.repo.view(VIEW))
        emails = pd.read_parquet(project.artifacts.local_path(ds.artifact))
        domains = sorted(emails["sender_domain"].unique())
        online = store.online.read(VIEW, [entity_key([d]) for d in domains])
        labels = emails[["message_id", "sender_domain", "sent_at", "is_spam"]]
        training = store.training_set("sender_activity", labels, "sent_at")
        (event,) = project.metadata.list_events(kinds=["features.computed"])
        return Outcome(
            table.digest,
            online,
            training.frame,
            training.digest,
            event.payload["partitions"],
            event.payload["note"],
        )
    finally:
        store.close()


@pytest.fixture(scope="module")
def in_process(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    root = tmp_path_factory.mktemp("here") / "p"
    with make_project(root, rows=ROWS, feature_service=True, prepare=per_entity) as project:
        assert project.loaded.config.features.split == FeatureSplitConfig()  # the default threshold
        return run(project, project.compute)


def test_a_source_under_the_threshold_is_computed_in_one_process(in_process: Outcome) -> None:
    assert in_process.partitions == 1
    assert f"{ROWS} source rows, under the {FeatureSplitConfig().min_rows}" in in_process.note
    assert sum(r is not None for r in in_process.online) > 1_000  # many entities, each materialized


def test_a_low_threshold_splits_a_small_source_on_the_local_pool(tmp_path: Path, in_process: Outcome) -> None:
    local = LocalExecutor(workers=2)
    try:
        with make_project(
            tmp_path / "p", rows=ROWS, feature_service=True, prepare=per_entity_split
        ) as project:
            assert project.loaded.config.features.split == LOW
            split = run(project, local)
    finally:
        local.close()
    assert split.partitions == 2, split.note
    same(split, in_process)


@pytest.fixture(scope="module")
def on_ray(tmp_path_factory: pytest.TempPathFactory, ray_executor: RayExecutor) -> tuple[Outcome, int]:
    """The split on the module's Ray, each way (conftest.py; the project opened with its URL joins it), and
    its worker count."""
    root = tmp_path_factory.mktemp("ray") / "p"
    env = {"MLFACTORY_COMPUTE": ray_executor.url, "RAY_USAGE_STATS_ENABLED": "0"}
    with make_project(root, rows=ROWS, feature_service=True, prepare=per_entity_split, env=env) as project:
        assert project.compute.url == ray_executor.url
        return run(project, project.compute), project.compute.workers


def test_ray_gives_what_one_process_gives(on_ray: tuple[Outcome, int], in_process: Outcome) -> None:
    split, workers = on_ray
    assert split.partitions == workers >= 2, split.note
    same(split, in_process)


def test_a_view_that_reads_across_entities_is_not_split(tmp_path: Path) -> None:
    local = LocalExecutor(workers=2)
    try:
        with make_project(
            tmp_path / "a", rows=ROWS, feature_service=True, prepare=skewed_declared
        ) as project:
            checked = run(project, local)
        with make_project(
            tmp_path / "b", rows=ROWS, feature_service=True, prepare=skewed_declared
        ) as project:
            here = run(project, None)
    finally:
        local.close()
    assert checked.partitions == 1
    assert "reads across entities" in checked.note
    same(checked, here)


def same(got: Outcome, want: Outcome) -> None:
    assert got.table == want.table
    assert got.online == want.online
    pd.testing.assert_frame_equal(got.training, want.training)
    assert got.training_digest == want.training_digest
