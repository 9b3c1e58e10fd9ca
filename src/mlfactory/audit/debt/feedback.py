"""Feedback loop debt: how much of a served version's training came from its own decisions, and whether its
retrain learned from a window its own predictions filtered.

A version's lineage names the labelled requests it trained on (an artifact of request ids); a bounded,
seeded sample of them is joined to the prediction log and to the labels' senders.
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow.parquet as pq

from mlfactory.audit.debt.logreads import id_span, predicted_counts, predictions_of
from mlfactory.audit.debt.reads import audited_version
from mlfactory.audit.model import Finding, Severity
from mlfactory.control.feedback import AUTOMATIC_PREFIX

if TYPE_CHECKING:
    from mlfactory.audit.model import Scope
    from mlfactory.entities import ModelVersion
    from mlfactory.project import Project

SAMPLE = 2000  # labelled requests of a version looked at (a seeded sample when it trained on more)
OWN_SHARE = 0.3  # training rows from the model's own traffic above this share are reported
MIN_ROWS = 50  # labelled rows before a share or a class mix is judged at all
FILTERED_SHARE = 0.95  # one predicted class holding this share of the labels a retrain used ...
TRAFFIC_SHARE = 0.8  # ... while the model predicted it for at most this share of its traffic


@dataclass(frozen=True)
class TrainedFeedback:
    """What a version's labelled training traffic was, from a sample of its request ids."""

    version: ModelVersion
    sampled: int
    predictions: dict[str, str]  # request id -> the version's model's logged prediction, for its own rows
    automatic: int  # sampled labels sent by an automatic sender (the model's own decision as the label)

    @property
    def own_fraction(self) -> float:
        return len(self.predictions) / self.sampled

    @property
    def training_rows(self) -> int:
        lineage = self.version.lineage
        return (lineage.train_rows or 0) + (lineage.holdout_rows or 0)


def _request_ids(project: Project, digest: str) -> list[str]:
    table = pq.read_table(io.BytesIO(project.artifacts.get_bytes(digest)), columns=["request_id"])
    ids = [str(r) for r in table.column("request_id").to_pylist()]
    if len(ids) > SAMPLE:
        rng = np.random.default_rng(0)
        ids = [ids[i] for i in sorted(rng.choice(len(ids), SAMPLE, replace=False))]
    return ids


def trained_feedback(project: Project, model: str) -> TrainedFeedback | None:
    """The audited version's labelled training traffic, or None when it trained on none."""
    version = audited_version(project, model)
    if version is None or not version.lineage.feedback_requests or version.lineage.feedback_rows == 0:
        return None
    ids = _request_ids(project, version.lineage.feedback_requests)
    if not ids:
        return None
    labels = project.metadata.get_feedback(ids)
    automatic = sum(1 for f in labels if f.actor.startswith(AUTOMATIC_PREFIX))
    return TrainedFeedback(version, len(ids), predictions_of(project, model, ids), automatic)


_SELF_LABELLED = (
    "A model that learns from labels its own decisions produced confirms itself: its mistakes come back as "
    "training data, and no metric computed on such labels can show them."
)
_OWN_TRAFFIC = (
    "Most of what this version learned comes from traffic it decided on: which examples come back, and "
    "how, follows its own decisions, so errors it makes consistently are under-corrected."
)


def own_decisions(model: str, fed: TrainedFeedback) -> Finding | None:
    """A finding when the version learned from labels its own decisions produced (an automatic sender), or,
    less severe, when most of what it learned came from its own traffic."""
    version = fed.version
    own_rows = round(version.lineage.feedback_rows * fed.own_fraction)
    share = own_rows / fed.training_rows if fed.training_rows else 0.0
    automatic_rows = round(version.lineage.feedback_rows * fed.automatic / fed.sampled)
    if fed.automatic == 0 and (share <= OWN_SHARE or own_rows < MIN_ROWS):
        return None
    if fed.automatic:
        title = f"{version.ref} trained on about {automatic_rows} labels its own decisions produced"
        fix = (
            f"retrain without them (`mlfactory train {model}` trains on the source alone; the controller "
            "leaves out labels from senders starting with 'auto'), and pass no automatic labels as feedback"
        )
    else:
        title = f"{version.ref} trained on {share:.0%} of its rows from its own predictions"
        fix = (
            "keep an independent stream of labels (a random review sample, the source's own rows) and cap "
            f"the feedback's weight with models.{model}.policy.max_training_rows"
        )
    return Finding(
        check="feedback.own_decisions",
        severity=Severity.HIGH if fed.automatic else Severity.LOW,
        title=title,
        evidence={
            "version": version.ref,
            "training_rows": fed.training_rows,
            "feedback_rows": version.lineage.feedback_rows,
            "own_prediction_rows": own_rows,
            "own_share": round(share, 4),
            "automatic_label_rows": automatic_rows,
            "sampled_requests": fed.sampled,
        },
        why=_SELF_LABELLED if fed.automatic else _OWN_TRAFFIC,
        fix=fix,
        model=model,
    )


def filtered_window(project: Project, model: str, fed: TrainedFeedback) -> Finding | None:
    """A finding when nearly all the labelled traffic a version retrained on was predicted one way while the
    model's traffic over the same span was not: the retrain saw only what the model let through."""
    by_class = Counter(fed.predictions.values())
    labelled = sum(by_class.values())
    span = id_span(list(fed.predictions))
    if labelled < MIN_ROWS or span is None:
        return None
    top, top_count = by_class.most_common(1)[0]
    traffic = predicted_counts(project, model, *span)
    total = sum(traffic.values())
    if total == 0 or top_count / labelled < FILTERED_SHARE:
        return None
    traffic_share = traffic.get(top, 0) / total
    if traffic_share > TRAFFIC_SHARE or total - traffic.get(top, 0) < MIN_ROWS:
        return None
    version = fed.version
    return Finding(
        check="feedback.filtered_window",
        severity=Severity.HIGH,
        title=f"{version.ref} retrained on labels of which {top_count / labelled:.0%} were of requests it "
        f"predicted '{top}', though it predicted '{top}' for {traffic_share:.0%} of its traffic then",
        evidence={
            "version": version.ref,
            "labelled_by_prediction": dict(by_class),
            "traffic_by_prediction": traffic,
            "since": span[0].isoformat(),
            "until": span[1].isoformat(),
        },
        why="The retrain learned only from the cases the model let through, so it cannot learn where it "
        "was wrong about the others; each retrain narrows what it sees.",
        fix="label a random sample of every predicted class (an exploration share, or a review queue), and "
        "train on it: `mlfactory feedback` with labels for each class",
        model=model,
    )


def find_feedback_debt(project: Project, scope: Scope) -> list[Finding]:
    """Feedback loop findings of the audited models' served versions (the label rates come separately)."""
    findings: list[Finding] = []
    for model in scope.models:
        fed = trained_feedback(project, model)
        if fed is None:
            continue
        findings += [f for f in (own_decisions(model, fed), filtered_window(project, model, fed)) if f]
    return findings
