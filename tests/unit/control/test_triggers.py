"""The performance trigger before labels: a label-free estimate decides only when its report trusts it."""

from types import SimpleNamespace
from typing import Any

from mlfactory.control.triggers import _estimated


def controller_with(metrics: dict[str, Any]) -> Any:
    report = {"id": "r1", "metrics": metrics}
    metadata = SimpleNamespace(list_monitor_reports=lambda *a, **k: [report])
    return SimpleNamespace(project=SimpleNamespace(metadata=metadata))


def test_a_low_estimate_fires_only_when_the_report_calls_it_reliable() -> None:
    champion: Any = SimpleNamespace(version=1)
    low = {"estimated.accuracy": 0.7}
    fired = _estimated(controller_with({**low, "estimated.reliable": 1.0}), "spam", "accuracy", 0.9, champion)
    assert fired is not None and fired.details["estimated"] is True
    assert (
        _estimated(controller_with({**low, "estimated.reliable": 0.0}), "spam", "accuracy", 0.9, champion)
        is None
    )
    assert _estimated(controller_with(low), "spam", "accuracy", 0.9, champion) is not None  # older reports
    assert (
        _estimated(controller_with({"estimated.accuracy": 0.95}), "spam", "accuracy", 0.9, champion) is None
    )
