"""The controller: one pass (`tick`) looks at every managed model and moves its rollout one step.

Every decision is an event carrying the numbers behind it. State lives in the metadata store: a controller
that restarts continues where the last one stopped, a per-model lease keeps two controllers from acting on
one model at once, and every state change names the revision it read (compare-and-set), so even an expired
lease cannot make two controllers act twice. Production is only ever moved by promote or rollback, so a
model that had a production version always keeps one.

The controller only wires: it takes the lease, runs monitoring when it is due, gathers the triggers'
evidence, and hands the rollout to the step of its state (:mod:`mlfactory.control.steps`), which sees
narrow ports instead of the project.

A retrain runs in the background (:mod:`mlfactory.control.background`) and outlasts the pass that started
it: the controller keeps that model's lease, renewing it each pass, until a later pass records the outcome,
while the other models' canaries and guard windows are still watched. A controller that stops gives the
lease back (or it expires, or the next controller on this host sees the process gone), and the next one
fails the retrain as abandoned.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlfactory.config import ModelConfig
from mlfactory.control.adapters import LogTraffic, ProjectRoutes, ProjectTrainer, RegistryVersions
from mlfactory.control.background import BackgroundRetrains
from mlfactory.control.evidence import Datasets, gather
from mlfactory.control.rollout import RolloutView
from mlfactory.control.states import RolloutState
from mlfactory.control.steps import Deps, Step, advance
from mlfactory.control.steps.base import describe
from mlfactory.control.triggers import Fired, check_triggers
from mlfactory.entities import PRODUCTION, ModelVersion
from mlfactory.errors import ConflictError, MLFactoryError
from mlfactory.monitoring import ReportMetrics, Window, run_monitor
from mlfactory.tracking import process_gone

if TYPE_CHECKING:
    from mlfactory.project import Project

log = logging.getLogger("mlfactory.controller")

__all__ = ["Controller", "Step"]


def _now() -> datetime:
    return datetime.now(UTC)


class Controller:
    """Runs the loop for every model whose project-file entry has a ``policy``."""

    def __init__(
        self,
        project: Project,
        *,
        owner: str | None = None,
        progress: Callable[[str], None] | None = None,
        clock: Callable[[], datetime] = _now,
        stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        self.project = project
        self.meta = project.metadata
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.actor = f"controller:{self.owner}"
        self.progress = progress or (lambda message: log.info("%s", message))
        self.clock = clock
        self.stopping = stopping  # the process is shutting down (a SIGTERM came): errors then are its echo
        self.predictions = project.predictions
        self.errors: list[Exception] = []
        self.retrains = BackgroundRetrains()

    def managed(self) -> dict[str, ModelConfig]:
        """The models with a policy, by name."""
        return {n: m for n, m in self.project.config.models.items() if m.policy is not None}

    # -- the loop ----------------------------------------------------------------------------------------

    def tick(self, *, wait: bool = True) -> list[Step]:
        """One pass over every managed model; errors are recorded as events (and kept in ``errors`` for the
        caller's exit code), never raised.

        A retrain starts in the background and the pass goes on to the other models. With ``wait`` (a
        one-shot pass: cron, CI, a script) the pass then waits for the retrains still running and takes
        those models' next steps, so it ends with their outcomes recorded; :meth:`run` does not wait, and
        a later pass records them.
        """
        deps = self._deps(Datasets(lambda source: self.project.ingest(source).dataset))
        self.errors = []
        steps = {name: self._guarded(deps, name, model) for name, model in self.managed().items()}
        if wait and self.retrains.running():
            self._wait_for_retrains()
            for name in self.retrains.running().keys() & steps.keys():
                steps[name] = self._guarded(deps, name, self.managed()[name])
        return list(steps.values())

    def run(self, *, iterations: int | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        """Tick every ``controller.interval`` seconds, forever or ``iterations`` times (the last pass waits
        for the retrains still running). However it ends, the leases kept for retrains are given back."""
        done = 0
        try:
            while iterations is None or done < iterations:
                started = time.monotonic()
                for step in self.tick(wait=iterations is not None and done == iterations - 1):
                    log.info("%s: %s (%s) %s", step.model, step.action, step.state, step.reason)
                done += 1
                if iterations is None or done < iterations:
                    sleep(max(0.0, self.project.config.controller.interval - (time.monotonic() - started)))
        finally:
            self.release()

    def release(self) -> None:
        """Give back the leases kept for retrains still running, as a controller on its way out: the next
        controller takes those models at once and fails their retrains as abandoned."""
        for name in self.retrains.running():
            try:
                self.meta.release_lease(name, self.owner)
            except MLFactoryError:  # the lease simply expires
                log.warning("could not release the lease on %s", name)

    def _guarded(self, deps: Deps, name: str, model: ModelConfig) -> Step:
        """The model's step this pass, or the error that stopped it (recorded, kept in ``errors``)."""
        try:
            return self._leased(deps, name, model)
        except Exception as exc:  # a database or server away, or a defect: record it, go on
            if self.stopping():  # the shutdown cut the step short (e.g. DuckDB's "Query interrupted")
                log.info("pass on %s stopped by the shutdown: %s", name, describe(exc))
                return Step(name, "unknown", "interrupted", "the controller is shutting down")
            if not isinstance(exc, MLFactoryError):
                log.exception("controller pass on %s failed", name)
            self._error(name, exc)
            self.errors.append(exc)
            return Step(name, "unknown", "error", describe(exc))

    def _wait_for_retrains(self) -> None:
        """Wait until every retrain this controller runs has finished, renewing their models' leases (a
        third of ``controller.lease`` apart) so no other controller takes them over meanwhile."""
        seconds = self.project.config.controller.lease
        running = self.retrains.running()
        pending = set(running.values())
        while pending:
            _, pending = concurrent.futures.wait(pending, timeout=seconds / 3)
            for name in running:
                try:
                    self.meta.acquire_lease(name, self.owner, seconds)
                except MLFactoryError:  # the database is away: the pass after the wait records it
                    log.warning("could not renew the lease on %s", name)

    def _deps(self, datasets: Datasets) -> Deps:
        """The steps' ports for one pass (the pass's datasets are shared by the triggers and the retrain)."""
        traffic = LogTraffic(self.predictions, self.meta)

        def triggers(name: str, champion: ModelVersion) -> list[Fired]:
            model = self.project.config.models[name]
            now = self.clock()
            return check_triggers(
                gather(self.meta, traffic, datasets, name=name, model=model, champion=champion, now=now)
            )

        return Deps(
            rollouts=self.meta,
            events=self.meta,
            clock=self.clock,
            actor=self.actor,
            versions=RegistryVersions(self.project, self.actor),
            routes=ProjectRoutes(self.project, self.actor),
            traffic=traffic,
            trainer=ProjectTrainer(self.project, datasets, self.actor, self.progress),
            retrains=self.retrains,
            triggers=triggers,
            progress=self.progress,
        )

    def _take_lease(self, name: str) -> bool:
        """The model's lease, taken over at once from a holder whose process is gone from this host (killed
        mid-retrain, say) rather than waiting out ``controller.lease``."""
        seconds = self.project.config.controller.lease
        if self.meta.acquire_lease(name, self.owner, seconds):
            return True
        holder = self.meta.get_rollout(name).lease_owner or ""
        host, _, rest = holder.partition(":")
        pid = rest.partition(":")[0]
        if not (pid.isdigit() and process_gone(host, int(pid))):
            return False
        if not self.meta.acquire_lease(name, self.owner, seconds, take_over=holder):
            return False
        self.meta.add_event(
            "controller.lease_reclaimed",
            actor=self.actor,
            model=name,
            payload={"from": holder},
            reason=f"the controller holding the lease ({holder}) is no longer running on this host",
        )
        return True

    def _leased(self, deps: Deps, name: str, model: ModelConfig) -> Step:
        if not self._take_lease(name):
            state = self.meta.get_rollout(name).state
            return Step(name, state, "skipped", "another controller holds this model's lease")
        try:
            watched = self._monitor(deps, name, model)
            step = self._step(deps, name, model)
            if watched:
                step = dataclasses.replace(step, payload={**step.payload, "monitoring": watched})
            return step
        except ConflictError as exc:  # another controller moved first; nothing to undo
            return Step(name, self.meta.get_rollout(name).state, "skipped", str(exc))
        finally:
            self._release_unless_retraining(name)

    def _release_unless_retraining(self, name: str) -> None:
        """Give the model's lease back after its step, unless its retrain still runs here (the lease then
        says which controller holds the job)."""
        if self.retrains.job(name) is not None:
            return
        try:
            self.meta.release_lease(name, self.owner)
        except MLFactoryError:  # the lease simply expires
            log.warning("could not release the lease on %s", name)

    def _step(self, deps: Deps, name: str, model: ModelConfig) -> Step:
        stored = self.meta.get_rollout(name)
        rollout = RolloutView.of(stored)
        if rollout.state != RolloutState.RETRAINING or rollout.data.retrain_by != self.actor:
            # a retrain of ours the rollout has moved past (another controller took the model over while
            # this one was stalled): its outcome is no longer the rollout's, and must not become a later one's
            self.retrains.collect(name)
        if stored.paused:
            return Step(name, stored.state, "paused", "the controller is paused for this model")
        assert model.policy is not None
        return advance(deps, rollout, model.policy)

    def _error(self, name: str, exc: Exception) -> None:
        try:
            self.meta.add_event(
                "controller.error",
                actor=self.actor,
                model=name,
                payload={"error": type(exc).__name__},
                reason=describe(exc),
            )
        except MLFactoryError:  # the database itself is away; the log line is all we can leave
            log.exception("controller error on %s, and the event could not be written", name)

    # -- monitoring on the controller's own schedule ----------------------------------------------------

    def _monitor(self, deps: Deps, name: str, model: ModelConfig) -> list[dict[str, Any]]:
        """Write monitoring reports of the newest ``window_rows`` rows once that many new production rows
        were logged since the model's last production report (so consecutive windows do not overlap)."""
        policy = model.policy
        assert policy is not None
        if not policy.monitor or deps.need_versions().champion(name) is None:
            return []
        last = self.meta.list_monitor_reports(name, route=PRODUCTION, limit=1)
        since = last[-1].window_end if last else None
        new = self.predictions.query(model=name, route=PRODUCTION, since=since, limit=policy.window_rows)
        if len(new) < policy.window_rows:
            return []
        self.progress(f"{name}: monitoring the newest {policy.window_rows} logged rows")
        reports = run_monitor(
            self.meta,
            self.predictions,
            self.project.config.monitoring,
            model=name,
            window=Window(last=policy.window_rows),
            actor=self.actor,
        )
        return [
            {
                "report": r.id,
                "version": r.version,
                "route": r.route,
                "rows": r.rows,
                "status": r.status,
                "drift_share": ReportMetrics.from_flat(r.metrics).drift_share,
                "drifted": r.drifted_columns(),
            }
            for r in reports
        ]
