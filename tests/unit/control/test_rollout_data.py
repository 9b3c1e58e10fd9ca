"""A rollout's data is a typed value at the store boundary: it round-trips, and old rows still load."""

from datetime import UTC, datetime

from mlfactory.control.plan import CanaryPlan
from mlfactory.control.rollout import RolloutData, RolloutView
from mlfactory.control.states import RolloutState
from mlfactory.stores import open_metadata_store

WHEN = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
PLAN = CanaryPlan("accuracy", 0.9, 0.02, 0.95, 412, 1800, 2060)


def test_rollout_data_round_trips_through_the_store() -> None:
    data = RolloutData(
        triggers=("drift", "schedule"),
        dataset="emails@3",
        shadow_started=WHEN,
        canary_started=WHEN,
        plan=PLAN,
        promoted_at=WHEN,
        baseline_accuracy=0.93,
    )
    store = open_metadata_store("memory://")
    stored = store.save_rollout(
        "spam",
        expect_revision=0,
        state="promoted",
        challenger=3,
        champion=2,
        data=data.to_json(),
        event="rollout.promoted",
        actor="test",
        reason="test",
    )
    view = RolloutView.of(store.get_rollout("spam"))
    assert view.data == data
    assert (view.state, view.revision, view.challenger, view.champion) == (RolloutState.PROMOTED, 1, 3, 2)
    assert stored.data["canary_started"] == "2026-03-04T05:06:07.891011+00:00"  # JSON, not a float
    assert stored.data["plan"]["labelled_canary_rows_to_catch_2x_regression"] == 412  # what `status` shows
    store.close()


def test_rows_written_by_earlier_controllers_with_float_epochs_still_load() -> None:
    old = {
        "promoted_at": WHEN.timestamp(),
        "baseline_accuracy": 0.95,
        "canary_started": int(WHEN.timestamp()),
    }
    data = RolloutData.from_json(old)
    assert data.promoted_at == WHEN and data.baseline_accuracy == 0.95
    assert data.canary_started == WHEN.replace(microsecond=0)
    assert data.shadow_started is None and data.triggers == () and data.plan is None
    assert RolloutData.from_json({"shadow_started": "2026-03-04T05:06:07"}).shadow_started == WHEN.replace(
        microsecond=0
    )  # a naive time reads as UTC
    # a canary row as the previous controller left it: epoch start, plan as a dict
    canary = RolloutData.from_json({"canary_started": WHEN.timestamp(), "plan": PLAN.to_json()})
    assert canary.plan == PLAN and canary.canary_started == WHEN
    assert RolloutData.from_json({"plan": {}}).plan is None  # a policy without an accuracy comparison


def test_unset_fields_are_left_out_and_idle_data_is_empty() -> None:
    assert RolloutData().to_json() == {}
    assert RolloutData.from_json({}) == RolloutData()
    assert RolloutData.from_json({"unknown": 1}) == RolloutData()
    assert RolloutData(dataset="d").to_json() == {"dataset": "d"}
