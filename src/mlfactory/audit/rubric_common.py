"""What every section of the rubric shares: one test's definition, its verdict for one model, and the
project's evidence read once per audit through bounded reads (newest pages, store-side filters, a slice of
the prediction log), so deciding 28 tests costs a few dozen small queries however large the stores are."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from mlfactory.audit.model import Scope, Section, Status
from mlfactory.audit.recorded import latest_check
from mlfactory.entities import PRODUCTION
from mlfactory.errors import NotFoundError

if TYPE_CHECKING:
    from mlfactory.audit.recorded import CheckResult
    from mlfactory.config.models import ModelConfig
    from mlfactory.entities import DatasetVersion, Event, ModelVersion, MonitorReportRecord
    from mlfactory.project import Project

T = TypeVar("T")

NEWEST_VERSIONS = 5  # versions compared offline against online (model.2)
REPORTS_PER_VERSION = 20  # newest monitoring reports read per version
EVENTS_PAGE = 200  # newest events of a kind read per model
LOG_DAYS = 7  # how far back the prediction log is read
LOG_ROWS = 50_000  # the newest logged rows scanned for numerical trouble (monitoring.5)
TOLERANCE = 0.05  # relative gap at which an offline and an online metric no longer agree
LOWER_IS_BETTER = ("log_loss", "mae", "rmse", "mse", "error_rate")
CONTROLLER = "controller"  # the controller's actors are named controller:<owner>


@dataclass(frozen=True)
class Verdict:
    """How one test stands for one model: the status, what was found and how to raise it."""

    status: Status
    evidence: str
    fix: str = ""


Judge = Callable[["Facts", str], Verdict]


@dataclass(frozen=True)
class RubricTest:
    """One of the paper's 28 tests, with what mlfactory reads to decide it and the judge that does."""

    id: str
    section: Section
    title: str
    decided_by: str
    judge: Judge


def num(value: float | None) -> str:
    """A number for evidence: four significant digits, or 'n/a'."""
    return "n/a" if value is None else f"{value:.4g}"


def seconds(value: float) -> str:
    """A duration for evidence, in the unit that reads best."""
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


def worse(metric: str, online: float, offline: float) -> float:
    """How much worse ``online`` is than ``offline``, relative to ``offline`` (negative: better)."""
    gap = online - offline if metric in LOWER_IS_BETTER else offline - online
    return gap / max(abs(offline), 1e-9)


class Facts:
    """The project's evidence for one audit, each read once (memoised) and bounded."""

    def __init__(self, project: Project, scope: Scope) -> None:
        self.project = project
        self.scope = scope
        self._memo: dict[Hashable, Any] = {}

    def _once(self, key: Hashable, read: Callable[[], T]) -> T:
        if key not in self._memo:
            self._memo[key] = read()
        value: T = self._memo[key]
        return value

    @property
    def now(self) -> datetime:
        return self.scope.now

    @property
    def log_since(self) -> datetime:
        return self.scope.now - timedelta(days=LOG_DAYS)

    def config(self, model: str) -> ModelConfig | None:
        """The model's settings in the project file (None: registered but no longer declared)."""
        return self.project.config.models.get(model)

    def newest(self, model: str) -> list[ModelVersion]:
        """The model's newest versions, newest first (one page)."""

        def read() -> list[ModelVersion]:
            try:
                return self.project.metadata.model_versions_page(model, limit=NEWEST_VERSIONS)
            except NotFoundError:
                return []

        return self._once(("newest", model), read)

    def served(self, model: str) -> ModelVersion | None:
        """The version production serves, else the newest version, else None."""

        def read() -> ModelVersion | None:
            number = self.project.metadata.get_aliases(model).get((model, PRODUCTION))
            if number is not None:
                return self.project.metadata.get_model_version(model, number)
            versions = self.newest(model)
            return versions[0] if versions else None

        return self._once(("served", model), read)

    def datasets(self, source: str) -> list[DatasetVersion]:
        """A source's dataset versions, oldest first (ingest reads the same list)."""
        return self._once(("datasets", source), lambda: self.project.metadata.list_datasets(source))

    def feature_views(self) -> int:
        """How many feature views the project registered."""
        return self._once("views", lambda: len(self.project.metadata.list_feature_views()))

    def check(self, check: str, model: str) -> CheckResult | None:
        """The newest recorded run of an on-demand check on the model."""
        return self._once(("check", check, model), lambda: latest_check(self.project, check, model))

    def events(self, model: str, kinds: Sequence[str], *, until: datetime | None = None) -> list[Event]:
        """The model's newest events of ``kinds`` (one page), newest first."""
        key = ("events", model, tuple(kinds), until)
        return self._once(
            key,
            lambda: self.project.metadata.list_events(
                model=model, kinds=kinds, until=until, limit=EVENTS_PAGE, newest_first=True
            ),
        )

    def reports(self, model: str, version: int) -> list[MonitorReportRecord]:
        """The newest monitoring reports of one version, newest first."""
        key = ("reports", model, version)

        def read() -> list[MonitorReportRecord]:
            found = self.project.metadata.list_monitor_reports(
                model, version=version, limit=REPORTS_PER_VERSION
            )
            return found[::-1]

        return self._once(key, read)

    def quality_metric(self, model: str) -> str:
        """The metric quality is compared on: the policy's performance metric, else the task's default."""
        config = self.config(model)
        if config is not None and config.policy is not None and config.policy.triggers.performance_metric:
            return config.policy.triggers.performance_metric
        return "rmse" if config is not None and config.task == "regression" else "accuracy"

    def realized(self, model: str, version: int, *, estimated: bool = False) -> tuple[float, str] | None:
        """The newest measured quality of a version on served data (realized from labels, or estimated
        before labels when allowed) and the id of the report that measured it."""
        metric = self.quality_metric(model)
        prefixes = ("performance.", "estimated.") if estimated else ("performance.",)
        for report in self.reports(model, version):
            for prefix in prefixes:
                value = report.metrics.get(prefix + metric)
                if value is not None:
                    return float(value), report.id
        return None


def from_check(facts: Facts, check: str, model: str, what: str) -> Verdict:
    """A test an on-demand check decides: passed (run by a person, so manual), failed (missing, with what it
    found) or never run (missing, with the command that runs it)."""
    result = facts.check(check, model)
    command = f"mlfactory audit --model {model} --run {check}"
    if result is None:
        return Verdict(Status.MISSING, f"{what} was never measured: no recorded '{check}' run", command)
    shown = ", ".join(f"{k}={num(v)}" for k, v in sorted(result.metrics.items())[:4])
    ran = f"'{check}' run {result.run_id[:8]} on {result.finished_at:%Y-%m-%d %H:%M}"
    served = facts.served(model)
    if served is not None and served.created_at > result.finished_at:
        ran += f" (before {model}/{served.version} was registered)"
    if not result.passed:
        found = "; ".join(f.title for f in result.findings[:3]) or "no finding recorded"
        return Verdict(
            Status.MISSING, f"{ran} failed: {found} ({shown})", f"fix what it found, then {command}"
        )
    return Verdict(
        Status.MANUAL,
        f"{ran} passed ({shown}), started on demand",
        "run it on every retrain (from CI or cron): " + command,
    )


def by_controller(facts: Facts, model: str) -> bool:
    """Whether the model's newest monitoring report was written by the controller (not a person)."""
    reports = facts.events(model, ["monitor.report"])
    return bool(reports) and reports[0].actor.startswith(CONTROLLER)
