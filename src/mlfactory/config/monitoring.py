"""Drift tests, performance checks, alert rules and the webhook."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from mlfactory.config.base import Duration, _Strict

DriftMethod = Literal["auto", "anderson", "ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi"]


class ColumnDriftConfig(_Strict):
    """How one column is checked for drift; unset fields take the monitoring section's defaults."""

    method: DriftMethod = "auto"
    threshold: float | None = Field(
        default=None,
        gt=0.0,
        description="p-value level for anderson, ks, chisquare and z; the distance that counts as "
        "drift for wasserstein (normed by the reference's standard deviation), jensenshannon (natural "
        "log) and psi",
    )
    min_effect: float | None = Field(default=None, ge=0.0, description="smallest effect size a test may flag")
    enabled: bool = True


class AlertRuleConfig(_Strict):
    """A rule checked on every monitoring report: fires when ``metric`` is above or below its bound."""

    name: str = Field(min_length=1)
    metric: str = Field(
        description="a report metric, e.g. drift.share, performance.accuracy, "
        "estimated.accuracy, health.latency_p95_ms (see `mlfactory monitor report --json`)"
    )
    above: float | None = None
    below: float | None = None
    window: Duration | None = Field(default=None, description="only reports over this time window, e.g. 1h")
    min_rows: int = Field(default=0, ge=0, description="reports over fewer rows never fire")
    cooldown: Duration = Field(default=3600.0, ge=0.0, description="repeats within this time are suppressed")
    models: list[str] | None = Field(default=None, description="only these models (default: every model)")

    @model_validator(mode="after")
    def _one_bound(self) -> AlertRuleConfig:
        if self.above is None and self.below is None:
            raise ValueError(f"alert rule '{self.name}' needs 'above' or 'below'")
        return self


class MonitoringConfig(_Strict):
    """Drift, performance and alerting.

    Every window, whatever its size, is judged by one rule: a column drifts when a significance test rejects
    at ``alpha`` *and* the effect reaches its minimum (``min_effect_numeric``: Wasserstein normed by the
    reference's standard deviation; ``min_effect_categorical``: Jensen–Shannon distance in natural-log
    units, as Evidently). The tests: Anderson–Darling on numbers, chi-square (Z for two values) on
    categories and on numbers with at most 20 distinct reference values, with cells under ``min_expected``
    expected rows merged. See README "How mlfactory decides"."""

    window: Duration = Field(default=3600.0, gt=0.0, description="default window of `monitor run`")
    min_rows: int = Field(default=100, ge=1, description="fewer rows in a window give no drift decision")
    small_sample: int = Field(
        default=1000,
        ge=1,
        description="no longer used: every window size is judged by the same test and minimum effect "
        "(kept so project files that set it still load)",
    )
    alpha: float = Field(default=0.05, gt=0.0, lt=1.0, description="p-value level of the tests")
    min_effect_numeric: float = Field(
        default=0.1, ge=0.0, description="smallest normed Wasserstein distance a test may flag as drift"
    )
    min_effect_categorical: float = Field(
        default=0.04,
        ge=0.0,
        description="smallest Jensen–Shannon distance (natural log) a test may flag as drift; 0.04 is "
        "0.048 in base 2, and a share moving 10 points (at most 50 %) reads at least 0.07",
    )
    min_expected: float = Field(
        default=5.0,
        ge=0.0,
        description="chi-square cells with fewer expected rows on a side are merged (Cochran's rule; 0 "
        "keeps every cell)",
    )
    wasserstein_threshold: float = Field(default=0.1, gt=0.0)
    jensenshannon_threshold: float = Field(default=0.1, gt=0.0)
    psi_threshold: float = Field(default=0.2, gt=0.0)
    drift_share: float = Field(
        default=0.5, gt=0.0, le=1.0, description="share of drifted columns that makes the dataset drifted"
    )
    columns: dict[str, ColumnDriftConfig] = Field(
        default={},
        description="per-column overrides by column name (text views as COLUMN.chars, "
        "COLUMN.words, COLUMN.oov_rate; outputs as prediction and score)",
    )
    performance_min_drop: float = Field(
        default=0.02, ge=0.0, description="smallest accuracy drop against the holdout that counts"
    )
    calibration_max_ece: float = Field(
        default=0.05, gt=0.0, le=1.0, description="expected calibration error above which estimates warn"
    )
    alerts: list[AlertRuleConfig] = []
    webhook_url: str | None = Field(default=None, description="firing alerts are posted here as JSON")
    webhook_timeout: float = Field(default=5.0, gt=0.0, le=60.0)
    reports_path: str = Field(default=".mlfactory/reports", description="where HTML and JSON reports go")
    native_threads: int | None = Field(
        default=1,
        ge=1,
        description="OpenMP/BLAS threads a monitoring run (and each slice it counts on a compute worker) may "
        "use; more spin against each other on a busy machine (the drift check of 1M rows took 3.0-4.9 s "
        "with the defaults, 1.4-1.6 s with 1); null keeps library defaults",
    )

    @field_validator("webhook_url")
    @classmethod
    def _http(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError(f"webhook_url must start with http:// or https://, got {v!r}")
        return v

    @model_validator(mode="after")
    def _unique_rules(self) -> MonitoringConfig:
        names = [r.name for r in self.alerts]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"alert rule names must be unique; repeated: {dupes}")
        return self
