"""How the rubric folds per-model verdicts into one outcome, and the small rules its judges share."""

from __future__ import annotations

import pytest

from mlfactory.audit.model import Section, Status
from mlfactory.audit.rubric import RANK, TESTS, combine
from mlfactory.audit.rubric_common import Verdict as V
from mlfactory.audit.rubric_common import seconds, worse
from mlfactory.audit.rubric_log import _checks


def test_the_rubric_has_the_papers_28_tests_in_order() -> None:
    ids = [t.id for t in TESTS]
    sections = {"data": Section.DATA, "model": Section.MODEL}
    sections |= {"infrastructure": Section.INFRASTRUCTURE, "monitoring": Section.MONITORING}
    assert ids == [f"{s}.{i}" for s in sections for i in range(1, 8)]
    assert all(t.section == sections[t.id.split(".")[0]] for t in TESTS)
    assert len({t.title for t in TESTS}) == 28 and all(t.decided_by for t in TESTS)


def test_automated_only_when_every_model_is_and_the_lacking_are_named() -> None:
    both = combine({"spam": V(Status.AUTOMATED, "gates: 2"), "churn": V(Status.AUTOMATED, "gates: 1")})
    assert both.status is Status.AUTOMATED and both.evidence == "spam: gates: 2; churn: gates: 1"
    one = combine(
        {"spam": V(Status.AUTOMATED, "gates: 2"), "churn": V(Status.MANUAL, "by hand", "add a policy")}
    )
    assert one.status is Status.MANUAL
    assert one.evidence.startswith("not automated for churn (manual); spam: gates: 2; churn: by hand")
    assert one.fix == "add a policy"


def test_the_weakest_status_wins_and_missing_is_weaker_than_undecided() -> None:
    for weak, strong in [(Status.MISSING, Status.UNDECIDED), (Status.UNDECIDED, Status.MANUAL)]:
        assert combine({"a": V(strong, "x"), "b": V(weak, "y")}).status is weak
    assert sorted(RANK, key=RANK.__getitem__)[0] is Status.MISSING
    same = combine({"a": V(Status.UNDECIDED, "not stored", "f"), "b": V(Status.UNDECIDED, "not stored", "f")})
    assert same.evidence == "not stored" and same.fix == "f"  # said once, not per model


def test_no_model_in_scope_is_missing_with_the_fix() -> None:
    empty = combine({})
    assert empty.status is Status.MISSING and "models" in empty.fix


def test_worse_knows_which_metrics_are_errors() -> None:
    assert worse("accuracy", 0.8, 1.0) == pytest.approx(0.2) and worse("accuracy", 1.0, 0.8) < 0
    assert worse("log_loss", 0.6, 0.5) > 0.19 and worse("rmse", 0.5, 0.6) < 0
    assert seconds(0.25) == "250 ms" and seconds(12.34) == "12.3 s"


def test_only_float_columns_of_the_log_are_tested_for_nan() -> None:
    tests = _checks(
        [
            ("request_id", "VARCHAR"),
            ("latency_ms", "FLOAT"),  # the server's own number, not the model's
            ("prediction", "BIGINT"),
            ("probabilities", "DOUBLE[]"),
            ("input.n_links", "DOUBLE"),
            ("input.subject", "VARCHAR"),
        ]
    )
    assert sorted(tests) == ["input.n_links", "probabilities"]
    assert "list_filter" in tests["probabilities"] and "isinf" in tests["input.n_links"]
