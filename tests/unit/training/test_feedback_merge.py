"""Labelled traffic joins a dataset version once per example, in the dataset's own types."""

import pandas as pd

from mlfactory.config import ModelConfig
from mlfactory.entities import Lineage, Signature
from mlfactory.evaluation.card import model_card
from mlfactory.training import FeedbackRows, merge_feedback

MODEL = ModelConfig(
    source="emails",
    label="is_spam",
    timestamp="sent_at",
    features={"numeric": ["n_links"], "text": ["body"]},
)


def dataset() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "message_id": ["m1", "m2", "m2", "m3"],
            "n_links": [0, 3, 3, 1],
            "body": ["lunch?", "win big", "win big", "minutes"],
            "is_spam": [0, 1, 1, 0],
            "sent_at": ["2026-01-01 10:00:00", "2026-01-02 10:00:00", "2026-01-02 10:00:00", "2026-01-03"],
        }
    )


def traffic() -> FeedbackRows:
    frame = pd.DataFrame(
        {
            "message_id": ["m3", "m4", "m4", "m5"],
            "n_links": [1, 7, 7, 0],
            "body": ["minutes", "cheap pills", "cheap pills", "lunch?"],
            "is_spam": [0, 1, 1, 0],
            "sent_at": pd.to_datetime(["2026-02-01", "2026-02-02", "2026-02-03", "2026-02-04"], utc=True),
            "request_id": ["r1", "r2", "r3", "r4"],
        }
    )
    return FeedbackRows(frame, {"labelled": 6, "duplicate_request_ids": 1, "unfit_labels": 1})


def test_with_a_key_each_example_is_used_once_and_the_dataset_wins() -> None:
    rows = merge_feedback(dataset(), traffic(), MODEL, ["message_id"])
    assert rows.frame["message_id"].tolist() == ["m1", "m2", "m3", "m4", "m5"]
    assert rows.request_ids == ["r3", "r4"]  # m3 is in the dataset; m4 was labelled twice, the last kept
    assert rows.counts == {
        "dataset_rows": 4,
        "dataset_duplicate_keys": 1,
        "labelled": 6,
        "duplicate_request_ids": 1,
        "unfit_labels": 1,
        "feedback_rows": 2,
        "feedback_repeated": 1,
        "feedback_in_dataset": 1,
    }
    assert rows.frame["is_spam"].dtype == "int64"  # 0/1 stays 0/1: classes [0, 1], never [0.0, 1.0]
    assert isinstance(rows.frame["sent_at"].dtype, pd.DatetimeTZDtype)  # text and times sort together
    assert rows.frame["sent_at"].is_monotonic_increasing


def test_without_a_key_identical_inputs_are_the_same_example() -> None:
    rows = merge_feedback(dataset(), traffic(), MODEL, None)
    # m3 equals a dataset row in every input, m4 was sent twice; m5 has m1's inputs and is also left out
    assert rows.request_ids == ["r3"]
    assert rows.counts["feedback_in_dataset"] == 2 and rows.counts["feedback_repeated"] == 1
    assert len(rows.frame) == 5  # the dataset is not deduplicated without a key: its rows may repeat


def test_no_traffic_leaves_the_dataset_alone() -> None:
    rows = merge_feedback(dataset(), None, MODEL, None)
    assert len(rows.frame) == 4 and rows.request_ids == [] and rows.counts["feedback_rows"] == 0


def test_the_card_explains_where_the_rows_came_from() -> None:
    rows = merge_feedback(dataset(), traffic(), MODEL, ["message_id"])
    card = model_card(
        name="spam",
        version="2",
        description="",
        estimator="LogisticRegression",
        task="classification",
        label="is_spam",
        signature=Signature(),
        metrics={},
        gates=[],
        lineage=Lineage(train_rows=4, holdout_rows=1, split="time", rows=rows.counts),
        slices={},
    )
    line = next(x for x in card.splitlines() if x.startswith("- Rows taken"))
    assert "4 from the dataset version and 2 labelled production requests" in line
    assert "1 requests labelled twice" in line and "1 labelled requests already in the dataset" in line
    assert "1 labels that did not fit the model" in line
