"""A trained, promoted spam project and a way to send traffic into its prediction log."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlfactory.inputs import Batch
from mlfactory.project import Project, open_project
from mlfactory.quickstart.world import SpamWorld
from mlfactory.stores.predictions import PredictionLog, open_prediction_log
from mlfactory.training import split_frame
from project_helpers import trained_project


@pytest.fixture(scope="session")
def trained_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained_project(tmp_path_factory.mktemp("monitoring") / "template", rows=2500)


@pytest.fixture
def project(trained_template: Path, tmp_path: Path) -> Iterator[Project]:
    root = tmp_path / "project"
    shutil.copytree(trained_template, root)
    with open_project(root, env={}, actor="test") as p:
        yield p


@pytest.fixture
def plog(project: Project) -> PredictionLog:
    return open_prediction_log(project.loaded)


Sender = Callable[..., tuple[list[str], np.ndarray]]


@pytest.fixture
def send(project: Project, plog: PredictionLog) -> Sender:
    """``send(n, drift=0.0, route="production", drop=(), holdout=False)``: score n generated emails with the
    production version and log them like the server does; returns (request ids, true labels).

    ``holdout=True`` sends the version's own holdout rows instead (``n`` at most their number): traffic
    with nothing to find by construction, since the calibration, the accuracy and the reference were all
    measured on exactly these rows. Fresh emails from the same world are a fair null only over many
    trials (the unit simulations measure those error rates); one window of them can differ from one
    500-row holdout by chance."""
    version = project.registry.resolve("spam@production")
    model = project.registry.load(version)
    world = SpamWorld(99)
    # a fixed clock for the emails: the generated traffic (and every statistical decision on it) is the
    # same on every run; the log's own times stay real so windows by age still work
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)

    def _send(
        n: int,
        drift: float = 0.0,
        route: str = "production",
        drop: tuple[str, ...] = (),
        holdout: bool = False,
        **_: Any,
    ) -> tuple[list[str], np.ndarray]:
        if holdout:
            frame = _holdout(project).iloc[:n]
        else:
            frame = world.emails(n, start=now - timedelta(days=1), end=now, drift=drift)
        rows = model.rows(frame)
        kept = [c for c in rows.names if c not in drop]
        pred, proba = model.predict(frame)
        ids = plog.ids.make(n)
        plog.append(
            model="spam",
            version=version.version,
            route=route,
            time=time.time(),
            latency_ms=2.0,
            request_ids=ids,
            batch=Batch(kept, columns={c: rows.columns[c] for c in kept}),
            predictions=pred,
            probabilities=proba,
        )
        plog.flush()
        return ids, frame["is_spam"].to_numpy()

    return _send


def _holdout(project: Project) -> pd.DataFrame:
    """The spam model's holdout, split from the project's data as training split it."""
    emails = pd.read_csv(project.root / "data" / "emails.csv", parse_dates=["sent_at"])
    return split_frame(emails, project.config.models["spam"])[1].reset_index(drop=True)
