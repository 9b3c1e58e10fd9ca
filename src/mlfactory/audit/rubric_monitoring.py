"""The rubric's fourth section, monitoring: tests monitoring.1 to monitoring.7, decided from the declared
schemas and alert settings, the skew and monitoring reports, the served version's age, and bounded reads of
the prediction log (the newest rows for NaN and infinity, per-version latency percentiles)."""

from __future__ import annotations

from datetime import timedelta

from mlfactory.audit.model import Section, Status
from mlfactory.audit.rubric_common import (
    CONTROLLER,
    LOG_DAYS,
    TOLERANCE,
    Facts,
    RubricTest,
    Verdict,
    by_controller,
    num,
    worse,
)
from mlfactory.audit.rubric_log import latency_by_version, nonfinite

SKEW_TOLERANCE = 0.01  # share of served values an offline recomputation may disagree with
SKEW_RECENT = timedelta(days=30)  # a skew report older than this says little about today's features
LATENCY_REGRESSION = 0.2  # p99 latency this much above the previous version's is a regression
HORIZON_METRIC = "horizon_days"  # what the model.staleness check records as the age quality holds until


def _declared(facts: Facts, model: str) -> str | None:
    """The model's source when it declares its columns (so ingest validates strictly), else None."""
    config = facts.config(model)
    source = facts.project.config.sources.get(config.source) if config is not None else None
    return config.source if config is not None and source is not None and source.columns else None


def dependencies(facts: Facts, model: str) -> Verdict:
    """monitoring.1: a changed upstream fails ingest validation, and someone is told."""
    source = _declared(facts, model)
    if source is None:
        return Verdict(
            Status.MISSING,
            "the source declares no columns, so an upstream schema change passes ingest unnoticed",
            "declare sources.<name>.columns in mlfactory.yaml",
        )
    invalid = [d for d in facts.datasets(source) if not d.valid]
    seen = f"{len(invalid)} snapshot(s) of '{source}' failed validation" + (
        f", newest {invalid[-1].id}" if invalid else ""
    )
    monitoring = facts.project.config.monitoring
    if monitoring.webhook_url or monitoring.alerts:
        return Verdict(
            Status.AUTOMATED,
            f"ingest of '{source}' validates against the declared schema and alerts are sent "
            f"({len(monitoring.alerts)} alert rules{', webhook' if monitoring.webhook_url else ''}); {seen}",
        )
    return Verdict(
        Status.MANUAL,
        f"ingest of '{source}' records a failed validation in the event log, but nothing notifies "
        f"anyone; {seen}",
        "set monitoring.webhook_url (and alert rules) so failures reach a person",
    )


def invariants(facts: Facts, model: str) -> Verdict:
    """monitoring.2: declared rules hold at ingest (training) and at serving, and drift is watched."""
    source, served, config = _declared(facts, model), facts.served(model), facts.config(model)
    reports = facts.reports(model, served.version) if served is not None else []
    fix = f"declare the source's columns and set models.{model}.policy (monitor: true)"
    if source is None or served is None:
        return Verdict(Status.MISSING, "no declared schema or no served version to hold it to", fix)
    on_invalid = config.on_invalid_input if config is not None else "reject"
    text = f"'{source}' validated at ingest; the server checks inputs against the signature ({on_invalid})"
    if reports:
        text += (
            f"; newest report {reports[0].id[:8]} drift share {num(reports[0].metrics.get('drift.share'))}"
        )
    if not reports:
        return Verdict(Status.MISSING, f"{text}; served inputs were never compared with training", fix)
    if by_controller(facts, model):
        return Verdict(Status.AUTOMATED, f"{text}; the controller writes the reports")
    return Verdict(Status.MANUAL, f"{text}; reports run by hand", fix)


def skew(facts: Facts, model: str) -> Verdict:
    """monitoring.3: served feature values equal an offline recomputation, recently."""
    config = facts.config(model)
    if config is not None and config.feature_service is None:
        return Verdict(
            Status.AUTOMATED,
            "the model computes its features inside its packaged pipeline, the same code for training and "
            "serving: no separate serving path to skew",
        )
    reports = facts.project.metadata.list_skew_reports(model, limit=1)
    fix = f"mlfactory features skew {model} (from cron or the controller)"
    if not reports or reports[0].created_at < facts.now - SKEW_RECENT:
        when = f"newest {reports[0].created_at:%Y-%m-%d}" if reports else "never"
        return Verdict(Status.MISSING, f"no skew check in the last {SKEW_RECENT.days} days ({when})", fix)
    report = reports[0]
    rate = float(report.report.get("max_mismatch_rate", 0.0))
    text = f"skew report {report.id} over {report.report.get('rows')} rows: max mismatch rate {num(rate)}"
    if rate > SKEW_TOLERANCE:
        return Verdict(
            Status.MISSING, f"{text} (above {SKEW_TOLERANCE})", "fix the feature code path that differs"
        )
    ran = facts.events(model, ["features.skew"])
    if ran and ran[0].actor.startswith(CONTROLLER):
        return Verdict(Status.AUTOMATED, f"{text}, run by {ran[0].actor}")
    return Verdict(Status.MANUAL, f"{text}, run by hand", fix)


def _horizon(facts: Facts, model: str) -> tuple[float | None, str]:
    """How old the model may get (seconds) and where that comes from: the staleness check's measured
    horizon, else the policy's retrain schedule."""
    check = facts.check("model.staleness", model)
    if check is not None and check.metrics.get(HORIZON_METRIC) is not None:
        return check.metrics[HORIZON_METRIC] * 86400, f"measured staleness horizon (run {check.run_id[:8]})"
    config = facts.config(model)
    schedule = config.policy.triggers.schedule if config is not None and config.policy is not None else None
    return schedule, "the policy's retrain schedule"


def fresh(facts: Facts, model: str) -> Verdict:
    """monitoring.4: the served version is younger than its horizon, and the controller keeps it so."""
    served, config = facts.served(model), facts.config(model)
    if served is None:
        return Verdict(Status.MISSING, "no version is served", f"mlfactory train {model}")
    age = (facts.now - served.created_at).total_seconds()
    horizon, origin = _horizon(facts, model)
    text = f"{model}/{served.version} is {age / 86400:.1f} days old"
    fix = (
        f"measure it (mlfactory audit --model {model} --run model.staleness) and set "
        f"models.{model}.policy.triggers.schedule"
    )
    if horizon is None:
        if config is not None and config.policy is not None:
            text += "; no horizon known, the controller retrains on its triggers (drift, quality), not by age"
            return Verdict(Status.MANUAL, text, fix)
        return Verdict(Status.MISSING, f"{text}; no horizon known and nothing retrains it", fix)
    text += f"; horizon {horizon / 86400:.1f} days from {origin}"
    if age > horizon:
        return Verdict(Status.MISSING, f"{text}: too stale", f"mlfactory train {model}, then promote; {fix}")
    if config is not None and config.policy is not None and config.policy.triggers.schedule:
        return Verdict(Status.AUTOMATED, f"{text}; the controller retrains on schedule")
    return Verdict(Status.MANUAL, f"{text}; no schedule retrains it before then", fix)


def stable(facts: Facts, model: str) -> Verdict:
    """monitoring.5: no NaN or infinity in the newest logged inputs, outputs or probabilities."""
    found = nonfinite(facts, model)
    refused = "the server refuses NaN and infinite inputs by design"
    if found.rows == 0:
        return Verdict(
            Status.UNDECIDED,
            f"{refused}; no prediction of '{model}' logged in the last {LOG_DAYS} days",
            "serve it with the prediction log on",
        )
    if found.bad:
        where = ", ".join(f"{column}: {count}" for column, count in sorted(found.bad.items()))
        return Verdict(
            Status.MISSING,
            f"{found.total_bad} of the newest {found.rows} logged rows hold NaN or infinity ({where}); "
            f"e.g. request {found.example}",
            f"mlfactory lineage --request {found.example}; then fix the model or its inputs",
        )
    return Verdict(
        Status.AUTOMATED,
        f"{refused}; none of the newest {found.rows} logged rows holds NaN or infinity in inputs, outputs or "
        "probabilities",
    )


def speed(facts: Facts, model: str) -> Verdict:
    """monitoring.6: the newest version's serving latency did not regress against the previous one."""
    by_version = latency_by_version(facts, model)
    if not by_version:
        return Verdict(Status.UNDECIDED, "no logged predictions in the window; RAM use is not recorded", "")
    shown = "; ".join(f"v{v}: p50 {num(p50)} ms, p99 {num(p99)} ms" for v, (p50, p99) in by_version[:2])
    if len(by_version) >= 2:
        (_, (_, new)), (_, (_, old)) = by_version[:2]
        if new is not None and old is not None and old > 0 and new > old * (1 + LATENCY_REGRESSION):
            return Verdict(
                Status.MISSING,
                f"{shown}: p99 latency rose {new / old - 1:.0%} from the previous version",
                "profile the new version before it takes more traffic; `mlfactory rollback` if needed",
            )
    config, monitoring = facts.config(model), facts.project.config.monitoring
    compares = config.policy.rollout.compare if config is not None and config.policy is not None else []
    watched = any(c.metric == "latency_p95_ms" for c in compares) or any(
        a.metric.startswith("health.latency") for a in monitoring.alerts
    )
    if watched:
        return Verdict(Status.AUTOMATED, f"{shown}; canary analysis or an alert rule watches latency")
    return Verdict(
        Status.MANUAL,
        f"{shown}; measured by this audit only, RAM use is not recorded",
        "add {metric: latency_p95_ms, max_regression: ...} to policy.rollout.compare, or an alert rule "
        "on health.latency_p99_ms",
    )


def quality(facts: Facts, model: str) -> Verdict:
    """monitoring.7: the served version's quality on served data holds against its holdout."""
    served, metric = facts.served(model), facts.quality_metric(model)
    if served is None:
        return Verdict(Status.MISSING, "no version is served", f"mlfactory train {model}")
    measured = facts.realized(model, served.version, estimated=True)
    offline = served.metrics.get(metric)
    fix = f"mlfactory monitor run --model {model} (labels through mlfactory feedback)"
    if measured is None or not isinstance(offline, int | float):
        return Verdict(Status.MISSING, f"no monitoring report measured {metric} of v{served.version}", fix)
    value, report = measured
    drop = worse(metric, value, float(offline))
    text = f"v{served.version} {metric} {num(value)} on served data (report {report[:8]})"
    text += f" vs holdout {num(offline)}"
    if drop > TOLERANCE:
        return Verdict(Status.MISSING, f"{text}: {drop:.1%} worse", f"retrain {model} on recent data")
    config = facts.config(model)
    triggers = config.policy.triggers if config is not None and config.policy is not None else None
    if triggers is not None and triggers.performance_below is not None and by_controller(facts, model):
        return Verdict(
            Status.AUTOMATED, f"{text}; the controller retrains below {triggers.performance_below}"
        )
    return Verdict(Status.MANUAL, f"{text}; nothing acts on a drop", f"set models.{model}.policy.triggers")


TESTS = (
    RubricTest(
        "monitoring.1",
        Section.MONITORING,
        "dependency changes result in notification",
        "declared source columns, invalid dataset versions, monitoring.webhook_url and alert rules",
        dependencies,
    ),
    RubricTest(
        "monitoring.2",
        Section.MONITORING,
        "data invariants hold in training and serving inputs",
        "declared source columns, the input check's setting and the served version's monitoring reports",
        invariants,
    ),
    RubricTest(
        "monitoring.3",
        Section.MONITORING,
        "training and serving features compute the same values",
        "the model's newest skew report and who ran it",
        skew,
    ),
    RubricTest(
        "monitoring.4",
        Section.MONITORING,
        "models are not too stale",
        "the served version's age against the staleness check's horizon or the policy's schedule",
        fresh,
    ),
    RubricTest(
        "monitoring.5",
        Section.MONITORING,
        "the model is numerically stable",
        "NaN and infinity in the newest logged inputs, predictions and probabilities",
        stable,
    ),
    RubricTest(
        "monitoring.6",
        Section.MONITORING,
        "the model has not experienced a dramatic or slow-leak regression in training speed, serving "
        "latency, throughput, or RAM usage",
        "per-version latency percentiles from the prediction log (RAM use is not recorded)",
        speed,
    ),
    RubricTest(
        "monitoring.7",
        Section.MONITORING,
        "the model has not experienced a regression in prediction quality on served data",
        "the served version's realized or estimated quality in its monitoring reports against its holdout",
        quality,
    ),
)
