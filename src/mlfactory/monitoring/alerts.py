"""Alert rules: checked on each stored report; a firing rule writes an event and a log line and posts JSON to
the configured webhook. A rule that fired for a model stays quiet for its cooldown."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlfactory.config import AlertRuleConfig, MonitoringConfig
from mlfactory.stores.metadata import MetadataStore

if TYPE_CHECKING:
    from mlfactory.monitoring.report import MonitorReport
    from mlfactory.stores.predictions import Window

log = logging.getLogger("mlfactory.monitoring")
ALERT_EVENT = "monitor.alert"


def post_json(url: str, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
    """POST ``payload`` as JSON; the outcome (status or error) as a dict, never an exception."""
    import urllib.error  # only a firing rule with a webhook posts: a monitoring run without one skips these
    import urllib.request

    body = json.dumps(payload).encode()
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json", "User-Agent": "mlfactory"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return {"delivered": 200 <= response.status < 300, "status": response.status}
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return {"delivered": False, "error": f"{type(exc).__name__}: {exc}"}


def _breach(rule: AlertRuleConfig, value: float) -> str | None:
    if rule.above is not None and value > rule.above:
        return f"{rule.metric} = {value:.4g} is above {rule.above:g}"
    if rule.below is not None and value < rule.below:
        return f"{rule.metric} = {value:.4g} is below {rule.below:g}"
    return None


def _applies(rule: AlertRuleConfig, report: MonitorReport, window: Window) -> bool:
    if rule.models is not None and report.model not in rule.models:
        return False
    if rule.window is not None and (window.seconds is None or abs(window.seconds - rule.window) > 1e-6):
        return False
    return report.rows >= rule.min_rows


def _recently_fired(
    metadata: MetadataStore, rule: AlertRuleConfig, model: str, now: datetime
) -> datetime | None:
    if rule.cooldown <= 0:
        return None
    since = now - timedelta(seconds=rule.cooldown)
    for event in reversed(metadata.list_events(model=model, since=since, kinds=[ALERT_EVENT])):
        if event.payload.get("rule") == rule.name:
            return event.time
    return None


def evaluate_alerts(
    metadata: MetadataStore,
    settings: MonitoringConfig,
    report: MonitorReport,
    *,
    window: Window,
    now: datetime,
    actor: str = "monitor",
) -> list[dict[str, Any]]:
    """Check every rule against a report; fire (event, log line, webhook) or note the suppression.

    Returns:
        One dict per rule that breached: rule, metric, value, message, and ``fired`` or ``suppressed``
        (with the time it last fired), plus the webhook outcome when one is configured.
    """
    out = []
    for rule in settings.alerts:
        value = report.metrics.get(rule.metric)
        if not _applies(rule, report, window) or not isinstance(value, int | float):
            continue
        message = _breach(rule, float(value))
        if message is None:
            continue
        entry: dict[str, Any] = {
            "rule": rule.name,
            "metric": rule.metric,
            "value": value,
            "message": message,
            "model": report.model,
            "version": report.version,
            "route": report.route,
            "report": report.id,
            "window": report.window.get("label"),
        }
        last = _recently_fired(metadata, rule, report.model, now)
        if last is not None:
            entry.update(state="suppressed", last_fired=last.isoformat(), cooldown_seconds=rule.cooldown)
            log.info(
                "alert %s on %s suppressed (fired at %s, cooldown %gs)",
                rule.name,
                report.model,
                last.isoformat(),
                rule.cooldown,
            )
            out.append(entry)
            continue
        entry["state"] = "fired"
        if settings.webhook_url:
            payload = {"kind": ALERT_EVENT, "time": now.isoformat(), **entry}
            entry["webhook"] = post_json(settings.webhook_url, payload, settings.webhook_timeout)
        metadata.add_event(ALERT_EVENT, actor=actor, model=report.model, payload=entry, reason=message)
        log.warning(
            "ALERT %s on %s v%s (%s): %s", rule.name, report.model, report.version, report.route, message
        )
        out.append(entry)
    return out
