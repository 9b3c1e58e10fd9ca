"""The metadata tables. Changes to them go through an Alembic migration in ``migrations/versions``."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

metadata = MetaData()

datasets = Table(
    "datasets",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("source", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("artifact", String(64), nullable=False),
    Column("n_rows", Integer, nullable=False),
    Column("schema", JSON, nullable=False),
    Column("profile", JSON, nullable=False),
    Column("validation", JSON, nullable=False),
    Column("valid", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("source", "version", name="uq_datasets_source_version"),
    UniqueConstraint("source", "content_hash", name="uq_datasets_source_hash"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(256), nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("params", JSON, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("environment", JSON, nullable=False),
    Column("dataset_id", String(128)),
    Column("error", Text),
    Column("archived_at", DateTime(timezone=True)),  # migration 0010_archive: pruned, hidden from listings
    Column("archive_reason", Text),
    Index("ix_runs_started", "started_at"),
    # migration 0010: listings read only the live runs, newest first, from this index. The migration makes
    # it partial on SQLite and PostgreSQL alike; only SQLite's predicate is declared here, because naming a
    # `postgresql_` option makes SQLAlchemy import the whole PostgreSQL dialect to check it, on every store
    Index("ix_runs_live_started", "started_at", sqlite_where=text("archived_at IS NULL")),
)

metrics = Table(
    "metrics",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(32), nullable=False),
    Column("key", String(256), nullable=False),
    Column("value", Float, nullable=False),  # 0 for a NaN (SQLite cannot store one): see is_nan
    Column("step", Integer, nullable=False),
    Column("timestamp", Float, nullable=False),
    Column("is_nan", Boolean, nullable=False, server_default=false()),  # migration 0011_latest_by_time
    Index("ix_metrics_run_key", "run_id", "key", "step"),
)

# -- latest metric values (migrations 0008_latest_metrics, 0011_latest_by_time) -----------------------------
# One row per run and key: the metrics row at the highest step (of equal steps, the latest timestamp; of
# equal timestamps, the last logged: the highest id), written in the transaction that logs the values, so
# pages of runs read one row per key, not every step.
latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column("key", String(256), primary_key=True),
    Column("value", Float, nullable=False),
    Column("step", Integer, nullable=False),
    Column("timestamp", Float, nullable=False),
    Column("is_nan", Boolean, nullable=False),
)

run_artifacts = Table(
    "run_artifacts",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column("name", String(256), primary_key=True),
    Column("digest", String(64), nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("status", String(16), nullable=False),
    Column("run_id", String(32)),
    Column("artifact", String(64), nullable=False),
    Column("flavor", String(32), nullable=False),
    Column("signature", JSON, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("gates", JSON, nullable=False),
    Column("profile", JSON, nullable=False),
    Column("lineage", JSON, nullable=False),
    Column("card", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("archived_at", DateTime(timezone=True)),  # migration 0010_archive: pruned, takes no traffic
    Column("archive_reason", Text),
    Index("ix_model_versions_run", "run_id"),  # migration 0010: which version a run produced
)

aliases = Table(
    "aliases",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("alias", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("time", DateTime(timezone=True), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("model", String(128)),
    Column("payload", JSON, nullable=False),
    Column("reason", Text, nullable=False),
    Index("ix_events_model_time", "model", "time"),
    Index("ix_events_time", "time"),
    Index("ix_events_kind_time", "kind", "time"),  # migration 0008: whether, and when, a kind happened
)

routing_policies = Table(
    "routing_policies",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("policy", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

feedback = Table(
    "feedback",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("label", JSON, nullable=False),
    Column("model", String(128)),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("problem", String(500)),  # why the label does not fit its model (migration 0006); None: usable
    Index("ix_feedback_received", "received_at"),
    Index("ix_feedback_model_received", "model", "received_at"),
)

# -- control (migration 0005_control) ---------------------------------------------------------------------

rollouts = Table(
    "rollouts",
    metadata,
    Column("model", String(128), primary_key=True),
    Column("state", String(32), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("challenger", Integer),
    Column("champion", Integer),
    Column("data", JSON, nullable=False),
    Column("paused", Boolean, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("lease_owner", String(128)),
    Column("lease_until", DateTime(timezone=True)),
)

# -- features (migration 0003_features) --------------------------------------------------------------------

feature_views = Table(
    "feature_views",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("code_version", String(64), primary_key=True),
    Column("entity", String(128), nullable=False),
    Column("source", String(128), nullable=False),
    Column("definition", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

feature_tables = Table(
    "feature_tables",
    metadata,
    Column("view", String(128), primary_key=True),
    Column("code_version", String(64), primary_key=True),
    Column("dataset_id", String(128), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("n_rows", Integer, nullable=False),
    Column("backfills", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

training_sets = Table(
    "training_sets",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("n_rows", Integer, nullable=False),
    Column("spec", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

feature_skew_reports = Table(
    "feature_skew_reports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("report", JSON, nullable=False),
    Index("ix_feature_skew_model_time", "model", "created_at"),
)

# -- monitoring (migration 0004_monitoring) -------------------------------------------------------------

monitor_reports = Table(
    "monitor_reports",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("model", String(128), nullable=False),
    Column("version", Integer),
    Column("route", String(64)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("window_start", DateTime(timezone=True)),
    Column("window_end", DateTime(timezone=True)),
    Column("rows", Integer, nullable=False),
    Column("status", String(32), nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("report", JSON, nullable=False),
    Index("ix_monitor_reports_model_time", "model", "created_at"),
)
# -- end monitoring ---------------------------------------------------------------------------------------

# -- api tokens (migration 0007_tokens) --------------------------------------------------------------------

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("secret_sha256", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)

# -- audits (migration 0009_audits) ------------------------------------------------------------------------

audits = Table(
    "audits",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("actor", String(256), nullable=False),
    Column("scope", Text, nullable=False),  # the models audited, sorted, comma-separated
    Column("score", Float, nullable=False),
    Column("report", JSON, nullable=False),
    Index("ix_audits_scope_time", "scope", "created_at"),
)
