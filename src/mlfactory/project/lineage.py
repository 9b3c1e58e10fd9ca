"""The Project's methods that trace a version or one prediction up and down its lineage.

Upstream of a version: the source snapshot, feature views, training set and run it came from, the champion
it was judged against and the labelled requests it trained on. Downstream: the aliases it holds and held,
the routes it takes, its monitoring, the retrains after it, the versions judged against it and what it
answered. One request: the logged row, the features looked up, the routing in force and the label sent.

Every read is bounded (a page of versions, events or reports, or a time window of the prediction log), so a
lineage costs the same in a project with a thousand versions and a million logged predictions. The CLI
(``mlfactory lineage``) and the dashboard's lineage page both read these records.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from mlfactory.errors import NotFoundError
from mlfactory.project.views import ViewMethods
from mlfactory.registry.registry import ALIAS_KINDS

# the records are imported where a lineage is built: every command opens a Project, few trace a lineage
if TYPE_CHECKING:
    from mlfactory.entities import Event, ModelVersion
    from mlfactory.project.lineage_records import (
        AliasSpan,
        DataUsed,
        Downstream,
        FeatureLookedUp,
        ReportsOf,
        RequestLineage,
        RunUsed,
        TrafficOf,
        Upstream,
        VersionLineage,
        VersionSummary,
    )
    from mlfactory.stores.predictions import LoggedPrediction

NEWEST_REPORTS = 5  # the newest monitoring reports of a version listed
REPORTS_COUNTED = 1000  # a version's reports are counted up to this many
RETRAIN_EVENTS = 50  # the newest retrain triggers of the model read
NEXT_SCAN = 50  # versions after this one searched for those judged against it
ALIAS_EVENTS = 500  # alias moves of the model since the version was registered read for its history
TRAFFIC_WINDOW = timedelta(days=7)  # the prediction log's rows counted, back from now
ROUTING_KINDS = (*ALIAS_KINDS, "routing.set", "routing.cleared")  # what changes a model's routing state
SHADOW = "shadow"  # the route a shadow's answers are logged under


def _summary(v: ModelVersion) -> VersionSummary:
    from mlfactory.project.lineage_records import VersionSummary

    return VersionSummary(v.name, v.version, v.status.value, v.created_at)


def params_digest(params: object) -> str:
    """The SHA-256 of a run's params as sorted JSON (values that JSON cannot hold as their text)."""
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()


def alias_spans(events: list[Event], version: int) -> list[AliasSpan]:
    """The stretches an alias pointed at ``version``, from a model's alias moves (oldest first); a span whose
    start precedes the events read starts at None, one still open ends at None."""
    from mlfactory.project.lineage_records import AliasSpan

    spans: list[AliasSpan] = []
    open_: dict[str, AliasSpan] = {}
    for e in events:
        alias = str(e.payload.get("alias", ""))
        if e.payload.get("from") == version and e.payload.get("to") != version:
            start = open_.pop(alias, None)
            since, actor = (start.since, start.actor) if start else (None, "")
            spans.append(AliasSpan(alias, since, e.time, actor))
        if e.payload.get("to") == version and alias not in open_:
            open_[alias] = AliasSpan(alias, e.time, None, e.actor)
    return spans + list(open_.values())


class LineageMethods(ViewMethods):
    """The Project's methods that trace a version or one prediction up and down its lineage."""

    # -- a version ---------------------------------------------------------------------------------------

    def version_lineage(self, ref: str, *, traffic: timedelta | None = TRAFFIC_WINDOW) -> VersionLineage:
        """Where a version came from and where it went.

        Args:
            ref: ``NAME/VERSION``, ``NAME@ALIAS`` or ``NAME`` (its production version).
            traffic: count the rows the version answered in this window back from now, per route (one
                DuckDB count over the log's files of the window); None leaves the log unread.

        Raises:
            NotFoundError: no such model, version or alias (the message names the known ones).
        """
        from mlfactory.project.lineage_records import VersionLineage

        v = self.registry.resolve(ref)
        return VersionLineage(_summary(v), self._upstream_of(v), self._downstream_of(v, traffic))

    def _upstream_of(self, v: ModelVersion) -> Upstream:
        from mlfactory.project.lineage_records import FeatureViewUsed, TrainingSetUsed, Upstream

        lin = v.lineage
        views, training_set = [], None
        if lin.features is not None:
            f = lin.features
            views = [
                FeatureViewUsed(view, code, f.feature_datasets.get(view))
                for view, code in sorted(f.feature_views.items())
            ]
            training_set = TrainingSetUsed(
                f.training_set, f.feature_service, self._training_set_rows(f.training_set)
            )
        return Upstream(
            data=self._data_used(v),
            feature_views=views,
            training_set=training_set,
            run=self._run_used(v.run_id),
            train_rows=lin.train_rows,
            holdout_rows=lin.holdout_rows,
            champion=lin.champion,
            gates=list(v.gates),
            feedback_rows=lin.feedback_rows,
            feedback_requests=lin.feedback_requests,
            model_module=lin.model_module,
            model_module_sha256=lin.model_module_sha256,
        )

    def _data_used(self, v: ModelVersion) -> DataUsed:
        from mlfactory.project.lineage_records import DataUsed

        lin = v.lineage
        try:
            d = self.metadata.get_dataset(lin.dataset) if lin.dataset else None
        except NotFoundError:  # a snapshot deleted since: the lineage still names it
            d = None
        if d is None:
            return DataUsed(lin.source, lin.dataset, lin.dataset_hash, None, None, None, found=False)
        return DataUsed(d.source, d.id, d.content_hash, d.n_rows, d.valid, d.created_at, found=True)

    def _training_set_rows(self, training_set: str) -> int | None:
        try:
            return self.metadata.get_training_set(training_set).n_rows
        except NotFoundError:
            return None

    def _run_used(self, run_id: str | None) -> RunUsed | None:
        from mlfactory.project.lineage_records import RunUsed

        if not run_id:
            return None
        try:
            r = self.metadata.get_run(run_id)
        except NotFoundError:  # a run removed since: the version still names it
            return RunUsed(run_id, None, None, None, {}, found=False)
        return RunUsed(r.id, r.name, r.status.value, params_digest(r.params), dict(r.environment), found=True)

    def _downstream_of(self, v: ModelVersion, traffic: timedelta | None) -> Downstream:
        from mlfactory.project.lineage_records import Downstream, RouteShare

        routes = self.route_table(v.name)
        shares = [RouteShare("canary", routes.canary_weight)] if routes.canary == v.version else []
        shares += [RouteShare(SHADOW, None)] if routes.shadow == v.version else []
        shares += [RouteShare("ab", w) for n, w in routes.ab if n == v.version]
        moves = self.metadata.list_events(
            model=v.name, kinds=ALIAS_KINDS, since=v.created_at, limit=ALIAS_EVENTS
        )
        retrains = self.events_page(model=v.name, kinds=["rollout.retraining"], limit=RETRAIN_EVENTS).items
        return Downstream(
            aliases=sorted(a for a, n in routes.aliases.items() if n == v.version),
            alias_history=alias_spans(moves, v.version),
            routes=shares,
            reports=self._reports_of(v),
            retrains=[e for e in retrains if e.time >= v.created_at],
            judged=self._judged_against(v),
            traffic=self._traffic_of(v, traffic) if traffic is not None else None,
        )

    def _reports_of(self, v: ModelVersion) -> ReportsOf:
        from mlfactory.project.lineage_records import ReportsOf

        found = self.metadata.list_monitor_reports(v.name, version=v.version, limit=REPORTS_COUNTED + 1)
        capped = len(found) > REPORTS_COUNTED
        return ReportsOf(min(len(found), REPORTS_COUNTED), capped, found[::-1][:NEWEST_REPORTS])

    def _judged_against(self, v: ModelVersion) -> list[VersionSummary]:
        """The versions among the :data:`NEXT_SCAN` right after ``v`` that were judged against it, oldest
        first (a challenger is registered soon after the champion it is judged against)."""
        newest = self.versions_page(v.name, limit=1).items[0].version
        span = min(NEXT_SCAN, newest - v.version)
        later = self.versions_page(v.name, offset=newest - v.version - span, limit=span).items if span else []
        return [_summary(n) for n in reversed(later) if n.lineage.champion == v.ref]

    def _traffic_of(self, v: ModelVersion, window: timedelta) -> TrafficOf:
        from mlfactory.project.lineage_records import TrafficOf

        until = datetime.now(UTC)
        since = until - window
        return TrafficOf(since, until, self.predictions.rows_by_route(v.name, v.version, since, until))

    # -- one request -------------------------------------------------------------------------------------

    def request_lineage(self, request_id: str) -> RequestLineage:
        """One logged prediction traced: its input vector, the features looked up, the version and route
        that answered, the routing in force, the answer, and the label sent for it.

        Args:
            request_id: an id a predict answer returned (``request_ids`` in the native answer,
                ``request_id`` in the v2 one).

        Raises:
            NotFoundError: the prediction log holds no row with this id.
        """
        from mlfactory.project.lineage_records import RequestLineage, ShadowAnswer

        rows = self.predictions.find_request(request_id)
        answered = [r for r in rows if r.route != SHADOW] or rows
        if not answered:
            raise NotFoundError(
                f"the prediction log has no request '{request_id}'; a request's id is in its predict "
                "answer (`request_ids` in /v1/models/NAME/predict, the `request_id` output in /v2), and rows "
                f"still waiting for the server's next flush or removed by `mlfactory log prune` are not found"
            )
        row = answered[0]
        v = self.metadata.get_model_version(row.model, row.version)
        labels = self.metadata.get_feedback([request_id], include_invalid=True)
        return RequestLineage(
            request_id=row.request_id,
            time=row.time,
            model=row.model,
            version=row.version,
            route=row.route,
            prediction=row.prediction,
            classes=list(v.signature.classes) if v.signature.classes is not None else None,
            probabilities=row.probabilities,
            latency_ms=row.latency_ms,
            inputs=row.inputs,
            features=_looked_up(v, row),
            violations=row.violations,
            route_revision=None,  # the log does not record it; routing_change names the state in force
            routing_change=self._routing_change(row),
            label=labels[0] if labels else None,
            shadow=[
                ShadowAnswer(r.version, r.prediction, r.probabilities, r.latency_ms)
                for r in rows
                if r.route == SHADOW and r is not row
            ],
        )

    def _routing_change(self, row: LoggedPrediction) -> Event | None:
        """The model's newest alias or routing change at the moment of the request (one indexed read)."""
        found = self.metadata.list_events(
            model=row.model,
            kinds=ROUTING_KINDS,
            until=row.time + timedelta(microseconds=1),
            newest_first=True,
            limit=1,
        )
        return found[0] if found else None


def _looked_up(v: ModelVersion, row: LoggedPrediction) -> list[FeatureLookedUp]:
    """The row's inputs the version looked up in its feature service, with the view and code making them."""
    from mlfactory.project.lineage_records import FeatureLookedUp

    spec = v.signature.feature_service
    if spec is None:
        return []
    sent = {c.name for c in v.signature.inputs if c.source == "request"}
    return [
        FeatureLookedUp(name, view.name, view.code_version, row.inputs.get(name))
        for view in spec.views
        for name in view.features
        if name not in sent and name in row.inputs
    ]
