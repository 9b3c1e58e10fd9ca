"""The controller: one pass (`tick`) looks at every managed model and moves its rollout one step.

Every decision is an event carrying the numbers behind it. State lives in the metadata store: a controller
that restarts continues where the last one stopped, a per-model lease keeps two controllers from acting on
one model at once, and every state change names the revision it read (compare-and-set), so even an expired
lease cannot make two controllers act twice. Production is only ever moved by promote or rollback, so a
model that had a production version always keeps one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from mlfactory.config import ModelConfig, PolicyConfig
from mlfactory.control import stats
from mlfactory.control.canary import analyze_canary, canary_plan
from mlfactory.control.feedback import feedback_training_rows
from mlfactory.control.states import RolloutState, check_transition
from mlfactory.control.stats import worse_proportion
from mlfactory.control.triggers import check_triggers
from mlfactory.entities import DatasetVersion, ModelVersion, Rollout
from mlfactory.errors import ConflictError, MLFactoryError, NotFoundError
from mlfactory.monitoring import Window, drift_streak, run_monitor
from mlfactory.registry import PRODUCTION
from mlfactory.serving import PredictionLog, deploy_canary, deploy_clear, deploy_shadow
from mlfactory.tracking import process_gone

if TYPE_CHECKING:
    from mlfactory.project import Project

log = logging.getLogger("mlfactory.controller")
S = RolloutState
DAY = 86400.0


def _accuracy(frame: pd.DataFrame, classes: list[Any] | None, minimum: int) -> float | None:
    """Accuracy on a frame's labelled rows, when it has at least ``minimum`` of them."""
    labelled = frame[frame["label"].notna()] if "label" in frame else frame.iloc[0:0]
    if len(labelled) < minimum:
        return None
    return float(stats.hits(labelled["prediction"], labelled["label"], classes).mean())


def _describe(exc: BaseException) -> str:
    """An error as one line for events and steps: the message, and the type when it is not one of ours."""
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, MLFactoryError) else f"{type(exc).__name__}: {text}"


@dataclass(frozen=True)
class Step:
    """What one tick did for one model."""

    model: str
    state: str
    action: str
    reason: str
    payload: dict[str, Any] = field(default_factory=dict)


class Controller:
    """Runs the loop for every model whose project-file entry has a ``policy``."""

    def __init__(
        self,
        project: Project,
        *,
        owner: str | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.project = project
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.actor = f"controller:{self.owner}"
        self.progress = progress or (lambda message: log.info("%s", message))
        cfg = project.config.server.prediction_log
        self.predictions = PredictionLog(project.loaded.path(cfg.path))
        self._ingested: dict[str, DatasetVersion] = {}

    @property
    def meta(self):  # type: ignore[no-untyped-def]
        return self.project.metadata

    def managed(self) -> dict[str, ModelConfig]:
        return {n: m for n, m in self.project.config.models.items() if m.policy is not None}

    # -- the loop ----------------------------------------------------------------------------------------

    def tick(self) -> list[Step]:
        """One pass over every managed model; errors are recorded as events (and kept in ``errors`` for the
        caller's exit code), never raised."""
        self._ingested = {}
        self.errors: list[Exception] = []
        steps = []
        for name, model in self.managed().items():
            try:
                steps.append(self._leased(name, model))
            except Exception as exc:  # a database or server away, or a defect: record it, go on
                if not isinstance(exc, MLFactoryError):
                    log.exception("controller pass on %s failed", name)
                self._error(name, exc)
                self.errors.append(exc)
                steps.append(Step(name, "unknown", "error", _describe(exc)))
        return steps

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

    def _leased(self, name: str, model: ModelConfig) -> Step:
        if not self._take_lease(name):
            return Step(
                name,
                self.meta.get_rollout(name).state,
                "skipped",
                "another controller holds this model's lease",
            )
        try:
            watched = self._monitor(name, model)
            step = self._step(name, model)
            return (
                dataclasses.replace(step, payload={**step.payload, "monitoring": watched})
                if watched
                else step
            )
        except ConflictError as exc:  # another controller moved first; nothing to undo
            return Step(name, self.meta.get_rollout(name).state, "skipped", str(exc))
        finally:
            try:
                self.meta.release_lease(name, self.owner)
            except MLFactoryError:  # the lease simply expires
                log.warning("could not release the lease on %s", name)

    def run(self, *, iterations: int | None = None, sleep=time.sleep) -> None:  # type: ignore[no-untyped-def]
        """Tick every ``controller.interval`` seconds, forever or ``iterations`` times."""
        done = 0
        while iterations is None or done < iterations:
            started = time.monotonic()
            for step in self.tick():
                log.info("%s: %s (%s) %s", step.model, step.action, step.state, step.reason)
            done += 1
            if iterations is None or done < iterations:
                sleep(max(0.0, self.project.config.controller.interval - (time.monotonic() - started)))

    def _error(self, name: str, exc: Exception) -> None:
        try:
            self.meta.add_event(
                "controller.error",
                actor=self.actor,
                model=name,
                payload={"error": type(exc).__name__},
                reason=_describe(exc),
            )
        except MLFactoryError:  # the database itself is away; the log line is all we can leave
            log.exception("controller error on %s, and the event could not be written", name)

    def _move(
        self,
        r: Rollout,
        target: RolloutState,
        reason: str,
        *,
        challenger: int | None = None,
        champion: int | None = None,
        data: dict[str, Any] | None = None,
        payload: dict[str, Any] | None = None,
    ) -> Rollout:
        check_transition(r.state, target)
        return self.meta.save_rollout(
            r.model,
            expect_revision=r.revision,
            state=target.value,
            challenger=r.challenger if challenger is None else challenger,
            champion=r.champion if champion is None else champion,
            data={**r.data, **(data or {})} if target != S.IDLE else {},
            event=f"rollout.{target.value}",
            actor=self.actor,
            reason=reason,
            payload=payload,
        )

    def _step(self, name: str, model: ModelConfig) -> Step:
        r = self.meta.get_rollout(name)
        policy = model.policy
        assert policy is not None
        if r.paused:
            return Step(name, r.state, "paused", "the controller is paused for this model")
        state = RolloutState(r.state)
        if state == S.IDLE:
            return self._idle(r, name, model, policy)
        if state == S.RETRAINING:
            return self._retrain(r, name, model, policy)
        if state == S.GATED:
            return self._go_live(r, name, policy)
        if state == S.SHADOW:
            return self._shadow(r, name, policy)
        if state == S.CANARY:
            return self._canary(r, name, policy)
        if state == S.PROMOTED:
            return self._guard(r, name, policy)
        done = self._move(r, S.IDLE, f"rollout finished as {state.value}")
        return Step(name, done.state, "reset", f"rollout finished as {state.value}")

    # -- monitoring on the controller's own schedule ----------------------------------------------------

    def _monitor(self, name: str, model: ModelConfig) -> list[dict[str, Any]]:
        """Write monitoring reports of the newest ``window_rows`` rows once that many new production rows
        were logged since the model's last production report (so consecutive windows do not overlap)."""
        policy = model.policy
        assert policy is not None
        if not policy.monitor or self.champion(name) is None:
            return []
        last = self.meta.list_monitor_reports(name, route=PRODUCTION, limit=1)
        since = last[-1]["window_end"] if last else None
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
                "drift_share": r.metrics.get("drift.share"),
                "drifted": r.drifted_columns(),
            }
            for r in reports
        ]

    # -- idle: triggers, cooldown and cap ----------------------------------------------------------------

    def newest_dataset(self, source: str) -> DatasetVersion:
        """Ingest a source once per pass (a trigger and the retrain that follows share it)."""
        if source not in self._ingested:
            self._ingested[source] = self.project.ingest(source).dataset
        return self._ingested[source]

    def champion(self, name: str) -> ModelVersion | None:
        try:
            return self.project.registry.resolve(f"{name}@{PRODUCTION}")
        except NotFoundError:
            return None

    def _recent_retrains(self, name: str, seconds: float) -> list[datetime]:
        since = datetime.fromtimestamp(time.time() - seconds, UTC)
        return [e.time for e in self.meta.list_events(model=name, since=since, kinds=["rollout.retraining"])]

    def _idle(self, r: Rollout, name: str, model: ModelConfig, policy: PolicyConfig) -> Step:
        champion = self.champion(name)
        if champion is None:
            return Step(
                name,
                r.state,
                "waiting",
                f"'{name}' has no {PRODUCTION} version to improve on; promote one first",
            )
        fired = check_triggers(self, name, model, champion)
        if not fired:
            return Step(name, r.state, "watching", "no trigger fired")
        reason = "; ".join(f.reason for f in fired)
        today = self._recent_retrains(name, DAY)
        cooling = self._recent_retrains(name, policy.cooldown)
        if cooling or len(today) >= policy.max_retrains_per_day:
            why = (
                f"cooldown: last retrain {cooling[-1]:%H:%M:%S} UTC, cooldown {policy.cooldown:.0f} s"
                if cooling
                else f"cap: {len(today)} retrains in the last 24 h (max {policy.max_retrains_per_day})"
            )
            last = self.meta.list_events(model=name, limit=1)
            if (
                not last or last[-1].kind != "controller.suppressed"
            ):  # one event per suppression, not per tick
                self.meta.add_event(
                    "controller.suppressed",
                    actor=self.actor,
                    model=name,
                    payload={"triggers": [f.kind for f in fired]},
                    reason=f"{reason} ({why})",
                )
            return Step(name, r.state, "suppressed", why)
        moved = self._move(
            r,
            S.RETRAINING,
            reason,
            champion=champion.version,
            challenger=None,
            payload={"triggers": [{"kind": f.kind, **f.details} for f in fired]},
        )
        return self._retrain(moved, name, model, policy)

    # -- retraining and gates ------------------------------------------------------------------------------

    def _retrain(self, r: Rollout, name: str, model: ModelConfig, policy: PolicyConfig) -> Step:
        started = time.monotonic()
        try:
            self.progress(f"{name}: ingesting source '{model.source}'")
            dataset = self.newest_dataset(model.source)
            self._refresh_features(model)
            feedback = (
                feedback_training_rows(self.predictions, self.meta, name, model)
                if policy.include_feedback
                else None
            )
            extra = 0 if feedback is None else len(feedback.frame)
            self.progress(
                f"{name}: training on dataset {dataset.id} ({dataset.n_rows:,} rows) and {extra:,} labelled "
                "requests, then evaluating, gating and saving"
            )
            result = self.project.train(
                name,
                dataset=dataset.id,
                feedback=feedback,
                max_rows=policy.max_training_rows,
                actor=self.actor,
            )
        except Exception as exc:  # whatever broke, the rollout must not stay in `retraining`
            if not isinstance(exc, MLFactoryError):
                log.exception("retraining %s failed", name)
            why = _describe(exc)
            broken = self._move(
                r, S.FAILED, f"retraining failed: {why}", payload={"error": type(exc).__name__}
            )
            self._move(broken, S.IDLE, "production keeps serving the champion")
            return Step(name, S.IDLE.value, "retrain_failed", why)
        v = result.version
        self.progress(f"{name}: {v.ref} registered as {v.status} after {time.monotonic() - started:.1f} s")
        payload = {
            "version": v.version,
            "dataset": dataset.id,
            "feedback_rows": v.lineage.get("feedback_rows", 0),
            "rows": v.lineage.get("rows", {}),
            "metrics": {k: x for k, x in result.metrics.items() if isinstance(x, float)},
            "gates": result.gates,
        }
        if not result.passed:
            failed = "; ".join(g["detail"] for g in result.gates if not g["passed"])
            rejected = self._move(
                r,
                S.REJECTED,
                f"challenger {v.ref} failed its gates: {failed}",
                challenger=v.version,
                payload=payload,
            )
            self._move(rejected, S.IDLE, "rejected challenger goes no further")
            return Step(name, S.IDLE.value, "rejected", failed, payload)
        reason = f"challenger {v.ref} passed every gate against {r.champion and f'{name}/{r.champion}'}"
        gated = self._move(r, S.GATED, reason, challenger=v.version, payload=payload)
        return self._go_live(gated, name, policy)

    def _refresh_features(self, model: ModelConfig) -> None:
        """Materialize the model's feature views from the data just ingested, before the challenger trains on
        it, so the values it is served online are the ones it learned from (incremental: cheap when nothing
        changed)."""
        if not model.feature_service:
            return
        fs = self.project.features
        views = [sel.view.name for sel in fs.repo.service(model.feature_service).selections()]
        fs.materialize(views, actor=self.actor)

    # -- shadow and canary ---------------------------------------------------------------------------------

    def _go_live(self, r: Rollout, name: str, policy: PolicyConfig) -> Step:
        assert r.challenger is not None
        if policy.rollout.shadow:
            deploy_shadow(self.meta, name, r.challenger, actor=self.actor, reason="controller: shadow first")
            moved = self._move(
                r,
                S.SHADOW,
                f"{name}/{r.challenger} sees a copy of traffic",
                data={"shadow_started": time.time()},
            )
            return Step(name, moved.state, "shadow", "shadow started")
        return self._go_live_canary(r, name, policy, "gates passed")

    def labelled_rows(
        self, name: str, version: int, *, route: str | None = None, since: float | None = None
    ) -> pd.DataFrame:
        start = None if since is None else datetime.fromtimestamp(since, UTC)
        frame = self.predictions.with_feedback(
            self.meta, model=name, version=version, route=route, since=start
        )
        return frame[frame["label"].notna()] if "label" in frame else frame

    def _failed_rows(self, name: str, since: datetime) -> dict[tuple[int, str], int]:
        """Rows each (version, route) failed to predict since ``since``, as every server reported them."""
        out: dict[tuple[int, str], int] = {}
        for e in self.meta.list_events(model=name, since=since, kinds=["serving.predict_failed"]):
            key = (e.payload["version"], e.payload["route"])
            out[key] = out.get(key, 0) + int(e.payload["rows"])
        return out

    def _load_failure(self, name: str, version: int, since: datetime) -> str | None:
        """Why a server could not load ``version`` since ``since``, if one reported it."""
        for e in self.meta.list_events(model=name, since=since, kinds=["serving.load_failed"]):
            if e.payload.get("version") == version:
                return e.reason
        return None

    def _shadow(self, r: Rollout, name: str, policy: PolicyConfig) -> Step:
        assert r.challenger is not None
        started = float(r.data.get("shadow_started", time.time()))
        broken = self._load_failure(name, r.challenger, datetime.fromtimestamp(started, UTC))
        if broken:
            return self._roll_back(
                r,
                name,
                f"challenger {name}/{r.challenger} failed to load on a server: {broken}",
                {"load_failed": broken},
            )
        rows = self.predictions.query(
            model=name, version=r.challenger, route="shadow", since=datetime.fromtimestamp(started, UTC)
        )
        if len(rows) < policy.rollout.shadow_min_rows:
            if time.time() - started > policy.rollout.max_canary_duration:
                return self._roll_back(
                    r, name, f"shadow saw only {len(rows)} rows before its maximum duration", {}
                )
            return Step(name, r.state, "waiting", f"{len(rows)}/{policy.rollout.shadow_min_rows} shadow rows")
        deploy_shadow(self.meta, name, None, actor=self.actor, reason="controller: shadow done")
        return self._go_live_canary(r, name, policy, f"shadow answered {len(rows)} rows")

    def _go_live_canary(self, r: Rollout, name: str, policy: PolicyConfig, why: str) -> Step:
        assert r.challenger is not None
        deploy_canary(
            self.meta,
            name,
            r.challenger,
            weight=policy.rollout.canary_weight,
            actor=self.actor,
            reason="controller: canary",
            key=policy.rollout.canary_key,
        )
        champion = self.champion(name)
        accuracy = champion.metrics.get("accuracy") if champion is not None else None
        plan = canary_plan(policy.rollout, accuracy if isinstance(accuracy, float) else None)
        size = (
            f"; about {plan['labelled_canary_rows_to_catch_2x_regression']} labelled canary rows catch a "
            f"challenger {2 * plan['allowed_regression']:g} less accurate"
            if plan
            else ""
        )
        moved = self._move(
            r,
            S.CANARY,
            f"{why}; {name}/{r.challenger} takes {policy.rollout.canary_weight:g}%{size}",
            data={"canary_started": time.time(), "plan": plan},
            payload={"plan": plan},
        )
        return Step(name, moved.state, "canary", "canary started")

    def _canary(self, r: Rollout, name: str, policy: PolicyConfig) -> Step:
        assert r.challenger is not None and r.champion is not None
        started = float(r.data.get("canary_started", time.time()))
        since = datetime.fromtimestamp(started, UTC)
        broken = self._load_failure(name, r.challenger, since)
        if broken:
            return self._roll_back(
                r,
                name,
                f"challenger {name}/{r.challenger} failed to load on a server: {broken}",
                {"load_failed": broken},
            )
        challenger = self.predictions.with_feedback(
            self.meta, model=name, version=r.challenger, route="canary", since=since
        )
        champion = self.predictions.with_feedback(
            self.meta, model=name, version=r.champion, route=PRODUCTION, since=since
        )
        classes = self.project.registry.resolve(f"{name}/{r.champion}").signature.get("classes")
        failed = self._failed_rows(name, since)
        errors = {
            side: (failed.get((version, route), 0), failed.get((version, route), 0) + len(frame))
            for side, version, route, frame in (
                ("challenger", r.challenger, "canary", challenger),
                ("champion", r.champion, PRODUCTION, champion),
            )
        }
        verdict = analyze_canary(
            challenger,
            champion,
            policy.rollout,
            elapsed_s=time.time() - started,
            classes=classes,
            errors=errors,
        )
        if verdict.decision == "wait":
            return Step(name, r.state, "waiting", verdict.reason, verdict.to_dict())
        if verdict.decision == "rollback":
            return self._roll_back(r, name, f"canary regressed: {verdict.reason}", verdict.to_dict())
        reason = verdict.reason
        payload = verdict.to_dict()
        if verdict.decision == "inconclusive":
            then = policy.rollout.canary_inconclusive
            reason = f"canary inconclusive, {verdict.reason}; policy canary_inconclusive: {then}"
            payload["inconclusive"] = then
            if then == "rollback":
                return self._roll_back(r, name, reason, payload)
        baseline = next((c.champion for c in verdict.checks if c.metric == "accuracy"), None)
        if baseline is None:
            baseline = _accuracy(champion, classes, policy.rollout.min_labelled_rows)
        return self._promote(r, name, reason, payload, baseline)

    def _promote(
        self, r: Rollout, name: str, reason: str, payload: dict[str, Any], baseline: float | None
    ) -> Step:
        assert r.challenger is not None
        current = self.champion(name)
        if current is None or current.version != r.challenger:  # idempotent after a restart mid-promotion
            self.project.registry.promote(name, r.challenger, actor=self.actor, reason=f"canary: {reason}")
        deploy_clear(self.meta, name, actor=self.actor, reason="controller: canary promoted")
        moved = self._move(
            r,
            S.PROMOTED,
            f"{name}/{r.challenger} promoted: {reason}",
            data={"promoted_at": time.time(), "baseline_accuracy": baseline},
            payload=payload,
        )
        return Step(name, moved.state, "promoted", reason, payload)

    def _roll_back(self, r: Rollout, name: str, reason: str, payload: dict[str, Any]) -> Step:
        with contextlib.suppress(NotFoundError):  # no routing policy left to clear
            deploy_clear(self.meta, name, actor=self.actor, reason="controller: rollback")
        moved = self._move(r, S.ROLLED_BACK, reason, payload=payload)
        self._move(moved, S.IDLE, "production keeps serving the champion")
        return Step(name, S.IDLE.value, "rolled_back", reason, payload)

    # -- the guard window after promotion -------------------------------------------------------------------

    def _guard(self, r: Rollout, name: str, policy: PolicyConfig) -> Step:
        """After promotion: production's accuracy on ``guard_rows`` labelled rows against the champion's
        during the canary; without that evidence by ``guard_duration`` the window ends inconclusive and the
        policy's ``guard_inconclusive`` decides."""
        assert r.challenger is not None
        rollout = policy.rollout
        if rollout.guard_rows == 0:
            done = self._move(r, S.IDLE, "no guard window (guard_rows: 0)")
            return Step(name, done.state, "guard_passed", "no guard window")
        promoted = float(r.data.get("promoted_at", time.time()))
        elapsed = time.time() - promoted
        baseline = r.data.get("baseline_accuracy")
        rows = self.labelled_rows(name, r.challenger, route=PRODUCTION, since=promoted)
        need = max(rollout.guard_rows, rollout.min_labelled_rows)
        if baseline is not None and len(rows) >= need:
            return self._guard_test(r, name, policy, rows, float(baseline))
        if elapsed < rollout.guard_duration:
            return Step(name, r.state, "guarding", f"{len(rows)}/{need} labelled rows since promotion")
        missing = (
            "no baseline accuracy (the champion had no labelled rows during the canary)"
            if baseline is None
            else f"{len(rows)} of the {need} labelled rows it needs"
        )
        then = rollout.guard_inconclusive
        reason = (
            f"guard window inconclusive after {elapsed:.0f} s: {missing}; policy guard_inconclusive: {then}"
        )
        detail = {"rows": len(rows), "needed": need, "baseline": baseline, "inconclusive": then}
        if then == "rollback":
            return self._guard_rollback(r, name, reason, detail)
        done = self._move(
            r, S.IDLE, f"{reason}, so {name}/{r.challenger} stays in production", payload=detail
        )
        return Step(name, done.state, "guard_inconclusive", reason, detail)

    def _guard_test(
        self, r: Rollout, name: str, policy: PolicyConfig, rows: pd.DataFrame, baseline: float
    ) -> Step:
        assert r.challenger is not None
        classes = self.project.registry.resolve(f"{name}/{r.challenger}").signature.get("classes")
        hits = int(stats.hits(rows["prediction"], rows["label"], classes).sum())
        drop, p = worse_proportion(hits, len(rows), round(baseline * len(rows)), len(rows))
        limit = next((c.max_regression for c in policy.rollout.compare if c.metric == "accuracy"), 0.02)
        detail = {
            "accuracy": hits / len(rows),
            "baseline": baseline,
            "drop": drop,
            "p_value": p,
            "rows": len(rows),
        }
        if drop > limit and p < policy.rollout.significance:
            reason = (
                f"guard window: production accuracy {hits / len(rows):.3f} vs {baseline:.3f} before "
                f"promotion (p={p:.3g})"
            )
            return self._guard_rollback(r, name, reason, detail)
        done = self._move(
            r,
            S.IDLE,
            f"guard window passed: accuracy {hits / len(rows):.3f} on {len(rows)} labelled rows "
            f"(baseline {baseline:.3f})",
            payload=detail,
        )
        return Step(name, done.state, "guard_passed", "production held up", detail)

    def _guard_rollback(self, r: Rollout, name: str, reason: str, detail: dict[str, Any]) -> Step:
        current = self.champion(name)
        if current is not None and current.version == r.challenger:
            self.project.registry.rollback(name, actor=self.actor, reason=reason)
        moved = self._move(r, S.ROLLED_BACK, reason, payload=detail)
        self._move(moved, S.IDLE, "rolled back to the previous production version")
        return Step(name, S.IDLE.value, "guard_rollback", reason, detail)

    # -- what monitoring saw ---------------------------------------------------------------------------------

    def drift_streak(self, name: str, champion: ModelVersion) -> list[dict[str, Any]]:
        """The newest consecutive stored monitoring windows of production that showed dataset drift."""
        return drift_streak(self.meta, name, champion.version)
