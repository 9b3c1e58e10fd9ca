"""`mlfactory init`: write a new project (project file, example data, README) from the simulated world."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from mlfactory.errors import ConfigError
from mlfactory.quickstart.world import SpamWorld, describe

START = datetime(2026, 1, 1, tzinfo=UTC)

PROJECT_FILE = """\
# mlfactory project file: only what differs from the defaults. Every setting, its value and where it came
# from: `mlfactory config show`.
name: spam-filter
description: >
  Flags spam in incoming email. Trained on generated data from mlfactory's seeded spam world
  (see README.md); replace data/emails.csv with your own messages to make it real.

# stores: everything lives under .mlfactory/ by default (SQLite metadata and online features, local
# artifacts and datasets). To grow to a team setup, set their URLs here, e.g.
#   stores:
#     metadata: postgresql+psycopg://user@host:5432/db
#     online: redis://127.0.0.1:6379/0

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

features:
  module: features.py         # entities, feature views and feature services (Python, see the file)

models:
  spam:
    source: emails
    label: is_spam
    timestamp: sent_at
    feature_service: sender_activity             # also use features.py's per-domain features (joined
                                                 # point-in-time for training, looked up online when served)
    on_missing_features: defaults                # a domain not in the online store yet: declared defaults
    features:
      numeric: [n_links, n_attachments, hour_sent]
      categorical: [sender_domain, language]
      text: [subject, body]
    params: {C: 4.0, max_iter: 2000}             # of the default estimator, scikit-learn's LogisticRegression
    split: {strategy: time}                       # hold out the newest messages (20% by default)
    metrics: [accuracy, precision, recall, f1, roc_auc, log_loss]
    gates:
      - {metric: accuracy, min: 0.90}            # absolute floor
      - {metric: f1, max_drop: 0.01}             # no worse than production on the same holdout
    segments: [language]                          # metrics per language in the model card
    policy:                                       # `mlfactory controller run` manages this model
      triggers:
        drift_windows: 2                          # dataset drift in 2 consecutive monitoring windows
        performance_metric: accuracy              # realized accuracy on labelled production traffic
        performance_below: 0.90
        new_data: true                            # a new version of the emails source
      window_rows: 500
      cooldown: 0s                                # none for the demo; an hour or more in real life
      max_retrains_per_day: 6
      max_training_rows: 3000                     # retrain on the newest 3,000 labelled emails (users'
                                                  # labels on live traffic join them by default)
      rollout:
        canary_weight: 30
        canary_key: message_id
        min_canary_rows: 150
        compare:
          - {metric: error_rate, max_regression: 0.01}
          - {metric: accuracy, max_regression: 0.02}
        guard_rows: 150
"""


FEATURES_FILE = '''\
"""Feature definitions of the spam-filter project: mail activity per sender domain, from the emails source.

The same function computes the features for training (joined point-in-time to each email) and for serving
(its newest values are materialized into the online store by `mlfactory features materialize`).
"""

import pandas as pd

from mlfactory.features import Entity, FeatureService, feature_view

sender = Entity(name="sender", join_keys=["sender_domain"], description="the domain an email was sent from")


# The generated emails are dated early 2026, so values never expire here (ttl=None); a live project would
# set a ttl such as "2d" so that a domain silent for two days counts as stale.
@feature_view(
    entity=sender, source="emails", timestamp="sent_at", ttl=None,
    features={"domain_emails_7d": "integer", "domain_links_mean_7d": "number",
              "domain_attachment_rate_7d": "number"},
    defaults={"domain_emails_7d": 0},
)
def domain_activity(emails: pd.DataFrame) -> pd.DataFrame:
    """Emails, mean links and share with attachments per sender domain over the last 7 days, known once
    each day has ended."""
    day = emails["sent_at"].dt.floor("D")
    daily = (
        emails.assign(day=day, attached=(emails["n_attachments"] > 0).astype(int))
        .groupby(["day", "sender_domain"])[["n_links", "attached"]]
        .agg(["size", "sum"])
    )
    counts = daily[("n_links", "size")].unstack(fill_value=0)
    links = daily[("n_links", "sum")].unstack(fill_value=0)
    attached = daily[("attached", "sum")].unstack(fill_value=0)
    days = pd.date_range(counts.index.min(), counts.index.max(), freq="D")
    week = [f.reindex(days, fill_value=0).rolling(7, min_periods=1).sum() for f in (counts, links, attached)]
    out = pd.DataFrame({
        "domain_emails_7d": week[0].stack(),
        "domain_links_mean_7d": (week[1] / week[0]).stack(),
        "domain_attachment_rate_7d": (week[2] / week[0]).stack(),
    })
    out.index.names = ["day", "sender_domain"]
    out = out[out["domain_emails_7d"] > 0].reset_index()
    out["sent_at"] = out["day"] + pd.Timedelta(days=1)  # a day's numbers are known when it ends
    return out.drop(columns="day")


sender_activity = FeatureService(name="sender_activity", features=[domain_activity],
                                 description="what the spam model looks up by sender_domain")
'''


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
        Path("features.py"): FEATURES_FILE,
        Path("README.md"): f"# spam-filter\n\nAn mlfactory project.\n\n## The data\n\n{describe()}\n",
        Path(".gitignore"): ".mlfactory/\n",
    }
    for rel, text in files.items():
        (directory / rel).write_text(text, encoding="utf-8")
    write_emails(directory / "data" / "emails.csv", seed=seed, rows=rows)
    return [*files, Path("data/emails.csv")]
