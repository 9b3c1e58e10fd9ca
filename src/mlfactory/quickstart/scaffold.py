"""`mlfactory init`: write a new project (project file, example data, README) from the simulated world."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from mlfactory.errors import ConfigError
from mlfactory.quickstart.world import SpamWorld, describe

START = datetime(2026, 1, 1, tzinfo=UTC)

PROJECT_FILE = """\
# mlfactory project file. Every setting and its default: `mlfactory config show`.
name: spam-filter
description: >
  Flags spam in incoming email. Trained on generated data from mlfactory's seeded spam world
  (see README.md); replace data/emails.csv with your own messages to make it real.

stores:                       # change these URLs to grow to a team setup
  metadata: sqlite:///.mlfactory/mlfactory.db    # or postgresql+psycopg://user@host:5432/db
  artifacts: .mlfactory/artifacts
  datasets: .mlfactory/datasets

sources:
  emails:
    kind: csv
    path: data/emails.csv
    owner: mail-platform-team
    description: Labelled emails, one row per message.
    columns:                  # the declared schema every snapshot is validated against
      message_id: {type: text, nullable: false}
      sent_at: {type: datetime, nullable: false}
      sender_domain: {type: category, nullable: false}
      language: {type: category, categories: [en, de, fr, es]}
      subject: {type: text}
      body: {type: text}
      n_links: {type: integer, min: 0, max: 500}
      n_attachments: {type: integer, min: 0, max: 50}
      hour_sent: {type: integer, min: 0, max: 23}
      is_spam: {type: integer, nullable: false, min: 0, max: 1}

models:
  spam:
    source: emails
    label: is_spam
    timestamp: sent_at
    features:
      numeric: [n_links, n_attachments, hour_sent]
      categorical: [sender_domain, language]
      text: [subject, body]
    estimator: sklearn.linear_model.LogisticRegression
    params: {C: 4.0, max_iter: 2000}
    split: {strategy: time, test_size: 0.2}      # hold out the newest 20% of messages
    metrics: [accuracy, precision, recall, f1, roc_auc, log_loss]
    gates:
      - {metric: accuracy, min: 0.90}            # absolute floor
      - {metric: f1, max_drop: 0.01}             # no worse than production on the same holdout
    segments: [language]                          # metrics per language in the model card
"""


def write_emails(path: Path, *, seed: int, rows: int, days: int = 60, drift: float = 0.0) -> None:
    """Generate ``rows`` labelled emails spread over ``days`` days from the start date into a CSV file."""
    world = SpamWorld(seed)
    frame = world.emails(rows, start=START, end=START + timedelta(days=days), drift=drift)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)


def init_project(directory: Path, *, force: bool = False, seed: int = 7, rows: int = 6000) -> list[Path]:
    """Write a new project into ``directory``; refuses a non-empty folder unless ``force``."""
    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()) and not force:
        raise ConfigError(f"{directory} is not empty; choose a new folder or pass --force")
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        Path("mlfactory.yaml"): PROJECT_FILE,
        Path("README.md"): f"# spam-filter\n\nAn mlfactory project.\n\n## The data\n\n{describe()}\n",
        Path(".gitignore"): ".mlfactory/\n",
    }
    for rel, text in files.items():
        (directory / rel).write_text(text, encoding="utf-8")
    write_emails(directory / "data" / "emails.csv", seed=seed, rows=rows)
    return [*files, Path("data/emails.csv")]
