"""Debt planted in test projects for the audit's tests: model settings changed in the project file, a noise
feature, and traffic scored, logged, labelled and trained on as the server and the controller do."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from sqlalchemy import select, update

from mlfactory.control.feedback import feedback_training_rows
from mlfactory.inputs import Batch
from mlfactory.project import Project
from mlfactory.quickstart.world import SpamWorld
from mlfactory.stores.predictions import open_prediction_log
from mlfactory.stores.sql import schema as t

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)  # the generated emails' clock; the log keeps real times


def edit_model(root: Path, change: dict[str, object], **columns: dict[str, str]) -> None:
    """Change the spam model's settings and declare new source columns in the project file at ``root``."""
    path = root / "mlfactory.yaml"
    config = yaml.safe_load(path.read_text())
    config["models"]["spam"].update(change)
    config["sources"]["emails"]["columns"].update(columns)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def with_noise(root: Path) -> None:
    """A numeric column of random noise, declared and fed to the model."""
    emails = pd.read_csv(root / "data" / "emails.csv")
    emails["noise"] = np.random.default_rng(5).normal(size=len(emails))
    emails.to_csv(root / "data" / "emails.csv", index=False)
    numeric = ["n_links", "n_attachments", "hour_sent", "noise"]
    edit_model(
        root,
        {
            "features": {
                "numeric": numeric,
                "categorical": ["sender_domain", "language"],
                "text": ["subject", "body"],
            }
        },
        noise={"type": "number"},
    )


def serve_logged(
    project: Project, n: int, seed: int = 99, extra: Callable[[pd.DataFrame], pd.DataFrame] | None = None
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Score ``n`` fresh emails (with ``extra``'s columns added) with the production version and log them:
    (ids, predictions, truth)."""
    version = project.registry.resolve("spam@production")
    model = project.registry.load(version)
    frame = SpamWorld(seed).emails(n, start=NOW - timedelta(days=1), end=NOW)
    frame = extra(frame) if extra else frame
    rows = model.rows(frame)
    pred, proba = model.predict(frame)
    log = open_prediction_log(project.loaded)
    ids = log.ids.make(n)
    log.append(
        model="spam",
        version=version.version,
        route="production",
        time=time.time(),
        latency_ms=2.0,
        request_ids=ids,
        batch=Batch(list(rows.names), columns=dict(rows.columns)),
        predictions=pred,
        probabilities=proba,
    )
    log.flush()
    log.close()
    return ids, np.asarray(pred), frame["is_spam"].to_numpy()


def label(project: Project, ids: list[str], truth: np.ndarray, keep: np.ndarray, actor: str) -> None:
    project.feedback([(r, int(y)) for r, y, k in zip(ids, truth, keep, strict=True) if k], actor=actor)


def retrain_on_feedback(project: Project) -> int:
    """Train on the source plus the labelled traffic, as the controller does, and put it in production."""
    _, config = project.model_config("spam")
    rows = feedback_training_rows(project.predictions, project.metadata, "spam", config)
    version = project.train("spam", feedback=rows).version
    project.promote("spam", version.version, reason="test", force=True)
    return version.version


def age_project(project: Project, by: timedelta) -> None:
    """Move every stored time of the project back by ``by``, as if it all happened that long ago."""
    engine = project.metadata.engine  # type: ignore[attr-defined]
    times = [
        (t.runs, ("id",), ("started_at", "ended_at")),
        (t.model_versions, ("name", "version"), ("created_at",)),
        (t.events, ("id",), ("time",)),
    ]
    with engine.begin() as conn:
        for table, keys, columns in times:
            for row in conn.execute(select(*(table.c[c] for c in (*keys, *columns)))).all():
                key, values = row[: len(keys)], row[len(keys) :]
                moved = {c: v - by for c, v in zip(columns, values, strict=True) if v is not None}
                match = [table.c[k] == v for k, v in zip(keys, key, strict=True)]
                conn.execute(update(table).where(*match).values(**moved))
