"""A model version's signature, lineage and gate results: typed records over the JSON the store keeps."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from mlfactory.config import GateConfig
from mlfactory.entities import (
    GateResult,
    InputColumn,
    Lineage,
    ModelVersion,
    Signature,
    VersionStatus,
    gates_from_json,
    gates_passed,
)
from mlfactory.evaluation import evaluate_gates
from mlfactory.features.spec import ServiceSpec, ViewSpec
from mlfactory.features.training import annotate_signature

# What `train` stores today, key for key (a spam classifier with a feature service and labelled traffic).
SIGNATURE: dict[str, Any] = {
    "inputs": [
        {
            "name": "n_links",
            "type": "integer",
            "min": 0.0,
            "max": 500.0,
            "nullable": False,
            "source": "request",
        },
        {"name": "lang", "type": "category", "categories": ["en", "fr"], "source": "request"},
        {"name": "body", "type": "text", "source": "request"},
        {"name": "sent_7d", "type": "number", "source": "store"},
    ],
    "task": "classification",
    "label": "is_spam",
    "label_type": "integer",
    "classes": [0, 1],
    "trusted_types": ["numpy.dtype"],
    "feature_service": {
        "name": "spam",
        "on_missing": "defaults",
        "views": [
            {
                "name": "sender_activity",
                "join_keys": ["sender"],
                "features": {"sent_7d": "number"},
                "ttl_seconds": 86400.0,
                "defaults": {"sent_7d": 0.0},
                "code_version": "v-1234",
            }
        ],
    },
    "entity_keys": ["sender"],
}
LINEAGE: dict[str, Any] = {
    "dataset": "emails@3-0123456789ab",
    "dataset_hash": "ab" * 32,
    "source": "emails",
    "run": "run-1",
    "project_file_sha256": "cd" * 32,
    "train_rows": 800,
    "holdout_rows": 200,
    "split": "random",
    "estimator": "sklearn.linear_model.LogisticRegression",
    "allow_invalid": False,
    "champion": "spam/1",
    "feedback_rows": 40,
    "rows": {"dataset_rows": 960, "feedback_rows": 40, "unfit_labels": 1},
    "feedback_requests": "ef" * 32,
    "max_rows": None,
    "training_set": "ts-0123456789abcdef",
    "feature_service": "spam",
    "feature_views": {"sender_activity": "v-1234"},
    "feature_datasets": {"sender_activity": "events@2-fedcba987654"},
}
GATES: list[dict[str, Any]] = [
    {"metric": "f1", "rule": "f1 >= 0.8", "value": 0.91, "passed": True, "detail": "f1 = 0.9100"},
    {"metric": "roc_auc", "rule": "roc_auc >= 0.9", "value": None, "passed": False, "detail": "undefined"},
]


def test_current_shapes_round_trip_key_for_key() -> None:
    assert Signature.from_json(SIGNATURE).to_json() == SIGNATURE
    assert Lineage.from_json(LINEAGE).to_json() == LINEAGE
    assert [g.to_json() for g in gates_from_json(GATES)] == GATES
    # and survive the trip through JSON text, as the store holds them
    assert Signature.from_json(json.loads(json.dumps(Signature.from_json(SIGNATURE).to_json()))) == (
        Signature.from_json(SIGNATURE)
    )


def test_records_read_as_attributes() -> None:
    sig = Signature.from_json(SIGNATURE)
    assert sig.input_names == ["n_links", "lang", "body", "sent_7d"]
    assert sig.inputs[0] == InputColumn(
        name="n_links", type="integer", min=0.0, max=500.0, nullable=False, source="request"
    )
    assert sig.inputs[1].categories == ("en", "fr") and sig.inputs[1].nullable
    assert sig.classes == (0, 1) and sig.entity_keys == ("sender",)
    spec = ServiceSpec.from_signature(sig)
    assert spec is not None and spec.on_missing == "defaults" and spec.join_keys == ["sender"]
    assert spec.views[0].ttl_seconds == 86400.0 and spec.features == {"sent_7d": "number"}
    lineage = Lineage.from_json(LINEAGE)
    assert lineage.dataset == "emails@3-0123456789ab" and lineage.rows["unfit_labels"] == 1
    assert lineage.features is not None
    assert lineage.features.feature_views == {"sender_activity": "v-1234"}
    assert lineage.extra == {}


def test_versions_stored_by_an_earlier_mlfactory_still_load() -> None:
    # a version registered before label types, row counts, rules, feature services and feedback existed
    old_signature = {
        "inputs": [{"name": "n_links", "type": "number"}, {"name": "body", "type": "text"}],
        "task": "classification",
        "label": "is_spam",
        "classes": ["ham", "spam"],
        "trusted_types": [],
    }
    old_lineage = {
        "dataset": "emails@1-0123456789ab",
        "dataset_hash": "ab" * 32,
        "source": "emails",
        "run": "run-0",
        "allow_invalid": True,
        "champion": None,
    }
    sig = Signature.from_json(old_signature)
    assert sig.label_type is None and sig.feature_service is None and sig.entity_keys == ()
    assert sig.inputs[0] == InputColumn(name="n_links", type="number")
    assert ServiceSpec.from_signature(sig) is None
    lineage = Lineage.from_json(old_lineage)
    assert lineage.allow_invalid is True and lineage.feedback_rows == 0 and lineage.rows == {}
    assert lineage.features is None and lineage.train_rows is None
    # what a store test registers: nothing but a gate's metric and outcome
    assert Signature.from_json({}) == Signature()
    assert gates_from_json([{"metric": "accuracy", "passed": True}]) == (
        GateResult(metric="accuracy", passed=True),
    )


def test_unknown_lineage_keys_are_kept() -> None:
    lineage = Lineage.from_json({"dataset": "d", "writer": "w1"})
    assert lineage.extra == {"writer": "w1"}
    assert lineage.to_json()["writer"] == "w1" and lineage.to_json()["dataset"] == "d"


def test_model_version_json_is_the_stored_shape() -> None:
    mv = ModelVersion(
        name="spam",
        version=2,
        status=VersionStatus.REJECTED,
        run_id="run-1",
        artifact="a" * 64,
        flavor="skops",
        signature=Signature.from_json(SIGNATURE),
        metrics={"f1": 0.91},
        gates=gates_from_json(GATES),
        profile={},
        lineage=Lineage.from_json(LINEAGE),
        card="# card",
        created_at=datetime(2026, 1, 2, tzinfo=UTC),
        aliases=("staging",),
    )
    out = json.loads(json.dumps(mv.to_json()))
    assert out["signature"] == SIGNATURE and out["lineage"] == LINEAGE and out["gates"] == GATES
    assert out["status"] == "rejected" and out["aliases"] == ["staging"]


def test_passed_means_every_gate_passed() -> None:
    ok = GateResult(metric="f1", rule="f1 >= 0.8", value=0.9, passed=True, detail="f1 = 0.9000")
    bad = GateResult(metric="f1", rule="f1 <= 0.95", value=0.99, passed=False, detail="f1 = 0.9900")
    assert gates_passed([ok]) and gates_passed([])  # an ungated model is ready
    assert not gates_passed([ok, bad])
    # stored values are read strictly: a missing "passed" is a failure, never a pass
    assert gates_from_json([{"metric": "f1"}])[0].passed is False


@pytest.mark.parametrize(
    ("value", "passed"),
    [(0.85, True), (0.8, True), (0.79, False), (None, False)],
)
def test_gate_results_from_evaluation(value: float | None, passed: bool) -> None:
    (result,) = evaluate_gates([GateConfig(metric="f1", min=0.8)], {"f1": value}, None)
    assert result.passed is passed and result.metric == "f1" and result.rule == "f1 >= 0.8"
    assert GateResult.from_json(result.to_json()) == result


def test_annotated_signature_marks_store_and_request_columns() -> None:
    spec = ServiceSpec(
        name="spam",
        views=(
            ViewSpec(
                name="sender_activity",
                join_keys=("sender",),
                features={"sent_7d": "number"},
                ttl_seconds=None,
                defaults={},
                code_version="v-1234",
            ),
        ),
    )
    plain = Signature(
        inputs=(InputColumn(name="body", type="text"), InputColumn(name="sent_7d", type="integer"))
    )
    sig = annotate_signature(plain, spec)
    assert [(c.name, c.type, c.source) for c in sig.inputs] == [
        ("body", "text", "request"),
        ("sent_7d", "number", "store"),
    ]
    assert sig.entity_keys == ("sender",) and ServiceSpec.from_signature(sig) == spec
    assert plain.feature_service is None  # records are values: annotating made a new one
